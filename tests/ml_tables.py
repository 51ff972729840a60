"""Simulated inference tables with known truth, for the model-drift tests and benchmark.

100 features: 60 continuous numeric (normal, log-normal, bimodal; different scales), 20 integer counts
(Poisson), 20 categorical (3 to 12 categories); ten numeric features have ~5% missing values. A shift
moves five continuous features by +0.1 of their SD and two categorical features by 5 points (from
their most common category to another). Seeds fix everything.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

N_CONTINUOUS, N_INTEGER, N_CATEGORICAL = 60, 20, 20
SHIFTED_NUMERIC = ("c03", "c11", "c22", "c37", "c48")
SHIFTED_CATEGORICAL = ("k02", "k09")
MISSING = tuple(f"c{i:02d}" for i in range(50, 60))


class Population:
    """The parameters of one model's feature distributions (fixed by ``seed``)."""

    def __init__(self, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self.kinds = rng.choice(["normal", "lognormal", "bimodal"], N_CONTINUOUS)
        self.scale = 10.0 ** rng.uniform(-1, 3, N_CONTINUOUS)
        self.loc = rng.normal(0, 1, N_CONTINUOUS) * self.scale
        self.lam = rng.uniform(0.5, 20, N_INTEGER)
        self.probs = [rng.dirichlet(np.ones(int(k)) * 2) for k in rng.integers(3, 13, N_CATEGORICAL)]
        self.weights = rng.normal(0, 1, 5)

    def sd(self, i: int) -> float:
        """The SD of continuous feature ``i`` (numerically, from a large draw)."""
        return float(np.std(self._continuous(np.random.default_rng(0), i, 400_000)))

    def _continuous(self, rng: np.random.Generator, i: int, n: int) -> np.ndarray:
        kind = self.kinds[i]
        if kind == "normal":
            z = rng.normal(0, 1, n)
        elif kind == "lognormal":
            z = rng.lognormal(0, 0.5, n)
        else:
            z = np.where(rng.random(n) < 0.4, rng.normal(-1.5, 0.5, n), rng.normal(1.0, 0.7, n))
        return self.loc[i] + self.scale[i] * z

    def sample(self, n: int, seed: int, shifted: bool = False) -> dict[str, pa.Array]:
        """``n`` inferences as the ``inferences`` view's columns (features, prediction)."""
        rng = np.random.default_rng(seed)
        cols: dict[str, pa.Array] = {}
        raw = {}
        for i in range(N_CONTINUOUS):
            name = f"c{i:02d}"
            x = self._continuous(rng, i, n)
            if shifted and name in SHIFTED_NUMERIC:
                x = x + 0.1 * self.sd(i)
            raw[name] = x
            mask = rng.random(n) < 0.05 if name in MISSING else None
            cols[f"feature.{name}"] = pa.array(x, pa.float64(), mask=mask)
        for i in range(N_INTEGER):
            cols[f"feature.n{i:02d}"] = pa.array(rng.poisson(self.lam[i], n).astype(float))
        for i, p in enumerate(self.probs):
            name = f"k{i:02d}"
            p = p.copy()
            if shifted and name in SHIFTED_CATEGORICAL:
                top = int(np.argmax(p))
                other = (top + 1) % len(p)
                p[top] -= 0.05
                p[other] += 0.05
            cols[f"feature.{name}"] = pa.array(np.asarray([f"v{j}" for j in range(len(p))])[rng.choice(len(p), n, p=p)])
        z = sum(w * (raw[f"c{j:02d}"] - self.loc[j]) / self.scale[j] for j, w in enumerate(self.weights))
        cols["prediction"] = pa.array(1 / (1 + np.exp(-z)))
        return cols
