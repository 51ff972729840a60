"""Maximum mean discrepancy of two samples of vectors, with a permutation p-value.

Why MMD: it compares whole distributions of embeddings (a theme that appears, answers that spread out),
where a distance between centroids only sees the mean. The kernel is the Gaussian RBF with the median
heuristic (bandwidth = median pairwise distance of the pooled sample), the usual parameter-free choice.

Why a permutation test: MMD²'s null distribution depends on the data; permuting the side labels gives
an exact-size test (a p-value below alpha happens at most alpha of the time under no change) whatever
the embedding model. It is fast because the biased statistic is a quadratic form: with w = +1/m on one
side and -1/n on the other, MMD² = wᵀKw, so each permutation costs one matrix-vector product with the
pooled kernel matrix, all permutations one matrix product. Above ``max_per_side`` texts a side is
subsampled (fixed seed), which keeps K at most (2·max_per_side)² whatever the sample size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PERMUTATIONS = 999  # smallest attainable p-value: 1/1000
MAX_PER_SIDE = 1000


@dataclass(frozen=True)
class MMDResult:
    mmd2: float  # biased estimate of MMD² (kernel values in [0, 1])
    p_value: float
    bandwidth: float
    permutations: int
    n_a: int  # rows used per side (after subsampling)
    n_b: int


def _subsample(x: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    return x[np.sort(rng.choice(len(x), size, replace=False))] if len(x) > size else x


def mmd_test(
    a: np.ndarray,
    b: np.ndarray,
    *,
    permutations: int = PERMUTATIONS,
    max_per_side: int = MAX_PER_SIDE,
    seed: int = 0,
) -> MMDResult:
    """MMD² between the rows of ``a`` and ``b`` and the share of label permutations at least as large."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError("MMD needs at least two vectors per side")
    rng = np.random.default_rng(seed + 31_337)
    x, y = _subsample(np.asarray(a, float), max_per_side, rng), _subsample(np.asarray(b, float), max_per_side, rng)
    z = np.vstack([x, y])
    m, n = len(x), len(y)
    squares = np.einsum("ij,ij->i", z, z)
    d2 = np.maximum(squares[:, None] + squares[None, :] - 2.0 * (z @ z.T), 0.0)
    off = d2[np.triu_indices(len(z), k=1)]
    positive = off[off > 0]
    median = float(np.median(positive)) if len(positive) else 1.0  # median of squared distances
    kernel = np.exp(-d2 / (2.0 * median))
    w = np.concatenate([np.full(m, 1.0 / m), np.full(n, -1.0 / n)])
    observed = float(w @ kernel @ w)
    perms = np.empty((len(z), permutations))
    for j in range(permutations):
        perms[:, j] = rng.permutation(w)
    null = np.einsum("ip,ip->p", perms, kernel @ perms)
    # ties within rounding count as "at least as large" (the conservative side)
    exceed = int(np.count_nonzero(null >= observed - 1e-12 * max(abs(observed), 1.0)))
    return MMDResult(observed, (1 + exceed) / (1 + permutations), float(np.sqrt(median)), permutations, m, n)
