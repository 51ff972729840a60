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


# --- a binary classifier with late labels (performance, label maturity, CBPE) -------------------------

K_SLOPE = 5.3  # P(fraud | x) = sigmoid(K_SLOPE * x): accuracy ~0.90 on x ~ N(0, 1)
SHIFTED_SD = 0.58  # x ~ N(0, 0.58): inputs nearer the boundary, accuracy ~0.84 (covariate shift)


def classifier_rows(n: int, seed: int, sd: float = 1.0, flip: float = 0.0, mean: float = 0.0) -> dict[str, np.ndarray]:
    """``n`` scored inputs: feature x, the probability of "fraud", the predicted class and the true one
    (drawn from the same calibrated probability, then a share ``flip`` of labels flipped: concept drift)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(mean, sd, n)
    p = 1 / (1 + np.exp(-K_SLOPE * x))
    y = rng.random(n) < p
    y = np.where(rng.random(n) < flip, ~y, y)
    return {"x": x, "p": p, "pred": p >= 0.5, "y": y}


def write_classifier(
    root: str,
    version: str,
    start_s: float,
    rows: dict[str, np.ndarray],
    *,
    labelled: float | np.ndarray = 1.0,
    delay_s: float = 3600.0,
    inferences: bool = True,
    segment: np.ndarray | None = None,
    positive_delay_s: float | None = None,
    seed: int = 0,
    stem: str | None = None,
) -> None:
    """Write inferences of model "fraud" at one per second from ``start_s`` (epoch seconds), and labels
    for a share ``labelled`` of them (or the rows of a boolean mask) ``delay_s`` later (``positive_delay_s``
    for frauds, when given), through the receiver's Parquet writer; ``inferences=False`` writes only the
    labels (the late rest of them)."""
    from driftline.collector.schema import INFERENCE_SCHEMA, LABEL_SCHEMA
    from driftline.collector.sink.parquet import HOUR_NS, ParquetSink

    rng = np.random.default_rng(seed)
    n = len(rows["x"])
    t_ns = (start_s * 1e9 + np.arange(n) * 1e9).astype(np.int64)
    ids = [f"{version}-{seed}-{i}" for i in range(n)]
    cls = np.where(rows["pred"], "fraud", "legit")
    proba = [[("fraud", float(p)), ("legit", float(1 - p))] for p in rows["p"]]
    columns = {f.name: pa.nulls(n, f.type) for f in INFERENCE_SCHEMA}
    columns.update(
        time=pa.array(t_ns, INFERENCE_SCHEMA.field("time").type),
        model=pa.array(["fraud"] * n),
        model_version=pa.array([version] * n),
        request_id=pa.array(ids),
        prediction_class=pa.array(cls),
        probabilities=pa.array(proba, INFERENCE_SCHEMA.field("probabilities").type),
        received_at=pa.array(t_ns, INFERENCE_SCHEMA.field("received_at").type),
    )
    table = pa.table(columns, schema=INFERENCE_SCHEMA).append_column("feature.x", pa.array(rows["x"]))
    if segment is not None:  # a segment key "country" (``--by country``)
        table = table.append_column("segment.country", pa.array(list(segment), pa.string()))
    sink = ParquetSink(root)
    stem = stem or f"test-{version}-{seed}"
    if inferences:
        sink.write("inferences", table, list(t_ns // HOUR_NS), stem)
    mask = labelled if isinstance(labelled, np.ndarray) else rng.random(n) < labelled
    keep = np.flatnonzero(mask)
    if not len(keep):
        return
    delay = np.where(rows["y"][keep], positive_delay_s or delay_s, delay_s)
    lt = (t_ns[keep] + (delay * 1e9).astype(np.int64)).astype(np.int64)
    labels = {f.name: pa.nulls(len(keep), f.type) for f in LABEL_SCHEMA}
    labels.update(
        time=pa.array(lt, LABEL_SCHEMA.field("time").type),
        request_id=pa.array([ids[i] for i in keep]),
        model=pa.array(["fraud"] * len(keep)),
        label_class=pa.array(np.where(rows["y"][keep], "fraud", "legit")),
        received_at=pa.array(lt, LABEL_SCHEMA.field("received_at").type),
    )
    sink.write("labels", pa.table(labels, schema=LABEL_SCHEMA), list(lt // HOUR_NS), stem)
