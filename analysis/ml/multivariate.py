"""A multivariate drift signal: how badly the baseline's principal components reconstruct each inference.

Why: a joint shift — two features whose relation changed while each keeps its own distribution — moves
no single feature, but rows that break the baseline's correlations are reconstructed worse by its
principal components (NannyML's "data reconstruction" method). Here it is one more numeric dimension
of the report, tested like a feature (KS on the per-row errors) and corrected in the same family.

Why the test is valid: the components are fitted on one half of the baseline's sampled rows; the
errors compared are those of the *other* half and of the candidate — rows the fit never saw, which
under no drift are exchangeable, so the KS test keeps its size (errors of the fitted rows would be
smaller by overfitting and raise false alarms). Sides are sampled (MAX_ROWS per side, fixed seed):
SVD cost stays flat at a million inferences, and the rest of the rows are NaN (not in the test).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from driftline.collector.schema import FEATURE_PREFIX

NAME = "multivariate.pca_error"
TITLE = "Multivariate (PCA reconstruction error)"
MAX_ROWS = 5_000  # rows per side in the test (the baseline samples twice this: half fit, half held out)
VARIANCE = 0.65  # components kept: enough to explain this share of the variance (NannyML's default)
TOP_CATEGORIES = 10  # one-hot columns per categorical feature (the baseline's most common categories)


def _numbers(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), dtype=float)


def _text(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_boolean(column.type):
        column = pc.if_else(column, "true", "false")
    return np.asarray(pc.cast(column, pa.string()).to_pylist(), dtype=object)


def _sample(n: int, size: int, keys: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions of ``size`` rows: those with the smallest keys, or random ones without keys."""
    if n <= size:
        return np.arange(n)
    if keys is None:
        return np.sort(rng.choice(n, size, replace=False))
    return np.sort(np.argpartition(keys, size)[:size])


class Collector:
    """Gathers the sampled rows' encoded features slice by slice, then scores them."""

    def __init__(
        self,
        n_a: int,
        n_b: int,
        seed: int = 0,
        keys_a: np.ndarray | None = None,
        keys_b: np.ndarray | None = None,
    ) -> None:
        """``keys_a``/``keys_b``: a hash of each row's identity (request id and time). Rows are then
        sampled by key, not by position, so the same inferences give the same signal whatever order
        the files are read in (with or without a resend). Without keys: random positions."""
        rng = np.random.default_rng(seed + 7919)
        self.n_a, self.n_b = n_a, n_b
        self.idx_a = _sample(n_a, 2 * MAX_ROWS, keys_a, rng)
        take_a = len(self.idx_a)
        if keys_a is not None:  # the fit half: by a key bit, again independent of the order
            self.fit = (keys_a[self.idx_a] >> np.uint64(17)) % np.uint64(2) == 0
        else:
            self.fit = np.zeros(take_a, dtype=bool)
            self.fit[rng.choice(take_a, take_a // 2, replace=False)] = True
        self.idx_b = _sample(n_b, MAX_ROWS, keys_b, rng)
        self.cols_a: list[np.ndarray] = []
        self.cols_b: list[np.ndarray] = []

    def add(self, a: dict[str, pa.Array], b: dict[str, pa.Array]) -> None:
        """Encode this slice's feature columns (those both sides have) for the sampled rows."""
        ia, ib = pa.array(self.idx_a), pa.array(self.idx_b)
        for name in sorted(k for k in a if k.startswith(FEATURE_PREFIX) and k in b):
            xa, xb = a[name].take(ia), b[name].take(ib)
            numeric = all(pa.types.is_floating(x.type) or pa.types.is_integer(x.type) for x in (xa, xb))
            if numeric:
                va, vb = _numbers(xa), _numbers(xb)
                self.cols_a.append(va)
                self.cols_b.append(vb)
                if np.isnan(va).any() or np.isnan(vb).any():  # missingness is a signal too
                    self.cols_a.append(np.isnan(va).astype(float))
                    self.cols_b.append(np.isnan(vb).astype(float))
                continue
            ta, tb = _text(xa), _text(xb)
            values, counts = np.unique(ta[self.fit & (ta != None)].astype(str), return_counts=True)  # noqa: E711
            for category in values[np.argsort(-counts, kind="stable")][:TOP_CATEGORIES]:
                self.cols_a.append((ta == category).astype(float))
                self.cols_b.append((tb == category).astype(float))

    def errors(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Per-row reconstruction error (NaN for rows not in the test: the baseline's fitted half and
        unsampled rows), or None when there is nothing to reconstruct."""
        if not self.cols_a or self.fit.sum() < 10 or (~self.fit).sum() < 2 or len(self.idx_b) < 2:
            return None
        xa, xb = np.column_stack(self.cols_a), np.column_stack(self.cols_b)
        fit = xa[self.fit]
        present = ~np.isnan(fit)
        count = present.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):  # a column with no value in the fit: dropped
            mean = np.where(present, fit, 0.0).sum(axis=0) / count
            sd = np.sqrt(np.where(present, (fit - mean) ** 2, 0.0).sum(axis=0) / count)
        keep = (count > 1) & np.isfinite(mean) & (sd > 0)
        if not keep.any():
            return None

        def scale(x: np.ndarray) -> np.ndarray:
            z = (x[:, keep] - mean[keep]) / sd[keep]
            return np.nan_to_num(z, nan=0.0)  # a missing value sits at the baseline's mean

        zf = scale(fit)
        _, s, vt = np.linalg.svd(zf, full_matrices=False)
        share = np.cumsum(s**2) / np.sum(s**2)
        k = int(np.searchsorted(share, VARIANCE) + 1)
        v = vt[:k].T

        def error(x: np.ndarray) -> np.ndarray:
            z = scale(x)
            return np.sqrt(np.sum((z - z @ v @ v.T) ** 2, axis=1))

        out_a = np.full(self.n_a, np.nan)
        out_b = np.full(self.n_b, np.nan)
        held = ~self.fit
        out_a[self.idx_a[held]] = error(xa[held])
        out_b[self.idx_b] = error(xb)
        return out_a, out_b
