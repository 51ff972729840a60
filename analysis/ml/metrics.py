"""Performance metrics of a model against its labels, each computed for many bootstrap replicates at once.

Why vectorized over replicates: every metric gets a bootstrap interval and a test against the
baseline, per window; a metric function takes index rows (one row per replicate, the first the sample
itself) and returns one value per row, so 400 replicates of a window cost one pass of numpy, not 400
Python calls. Classification: accuracy, precision, recall, F1 (of the positive class, or macro over
classes), ROC AUC and log loss (binary, with the positive class's probability), expected calibration
error (10 equal-width bins). Regression: MAE, RMSE, MAPE (rows whose label is 0 left out), R².
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

EPS = 1e-15  # log loss clips probabilities to [EPS, 1 - EPS], as scikit-learn does
CALIBRATION_BINS = 10


@dataclass(frozen=True)
class Metric:
    name: str
    title: str
    higher_is_better: bool
    floor: float  # the smallest change that matters, in the metric's own units (relative when ``relative``)
    relative: bool = False
    needs_probability: bool = False


CLASSIFICATION = (
    Metric("accuracy", "Accuracy", True, 0.02),
    Metric("precision", "Precision", True, 0.02),
    Metric("recall", "Recall", True, 0.02),
    Metric("f1", "F1", True, 0.02),
    Metric("roc_auc", "ROC AUC", True, 0.02, needs_probability=True),
    Metric("log_loss", "Log loss", False, 0.05, relative=True, needs_probability=True),
    Metric("calibration_error", "Calibration error", False, 0.02, needs_probability=True),
)
REGRESSION = (
    Metric("mae", "MAE", False, 0.05, relative=True),
    Metric("rmse", "RMSE", False, 0.05, relative=True),
    Metric("mape", "MAPE", False, 0.05, relative=True),
    Metric("r2", "R²", True, 0.02),
)
BY_NAME = {m.name: m for m in CLASSIFICATION + REGRESSION}


@dataclass
class Labelled:
    """One sample's labelled rows. Binary: ``y`` and ``yhat`` are 0/1 (positive class = 1) and ``p`` the
    positive class's probability (or None); multiclass: integer class codes; regression: values."""

    y: np.ndarray
    yhat: np.ndarray
    p: np.ndarray | None
    task: str  # binary | multiclass | regression
    classes: int = 2

    def __len__(self) -> int:
        return len(self.y)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _binary_counts(y: np.ndarray, yhat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tp = (y & yhat).sum(axis=1)
    fp = (~y & yhat).sum(axis=1)
    fn = (y & ~yhat).sum(axis=1)
    return tp, fp, fn


def _macro(y: np.ndarray, yhat: np.ndarray, classes: int, kind: str) -> np.ndarray:
    out = []
    for c in range(classes):
        tp, fp, fn = _binary_counts(y == c, yhat == c)
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        f1 = _ratio(2 * tp, 2 * tp + fp + fn)
        out.append(precision if kind == "precision" else recall if kind == "recall" else f1)
    return np.nanmean(np.vstack(out), axis=0) if classes else np.full(len(y), np.nan)


def _auc(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC per row (ties count half): the mean rank of the positives among all."""
    order = np.argsort(p, axis=1, kind="stable")
    sp = np.take_along_axis(p, order, axis=1)
    sy = np.take_along_axis(y, order, axis=1)
    n = p.shape[1]
    ranks = np.empty_like(sp)
    for r in range(sp.shape[0]):  # average ranks of ties (a loop over replicates; each is vectorized)
        row = sp[r]
        starts = np.flatnonzero(np.concatenate([[True], row[1:] != row[:-1]]))
        ends = np.concatenate([starts[1:], [n]])
        ranks[r] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    pos = sy.sum(axis=1)
    neg = n - pos
    rank_sum = (ranks * sy).sum(axis=1)
    return _ratio(rank_sum - pos * (pos + 1) / 2.0, pos * neg)


def _calibration(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Expected calibration error: the share-weighted gap between mean probability and positive rate
    over ten equal-width probability bins."""
    bins = np.minimum((p * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    rows = np.arange(p.shape[0])[:, None] * CALIBRATION_BINS
    flat = (bins + rows).ravel()
    size = p.shape[0] * CALIBRATION_BINS
    sum_p = np.bincount(flat, weights=p.ravel(), minlength=size).reshape(-1, CALIBRATION_BINS)
    sum_y = np.bincount(flat, weights=y.ravel().astype(float), minlength=size).reshape(-1, CALIBRATION_BINS)
    return np.abs(sum_p - sum_y).sum(axis=1) / p.shape[1]


def _classification(name: str, s: Labelled, idx: np.ndarray) -> np.ndarray:
    y, yhat = s.y[idx], s.yhat[idx]
    if s.task == "multiclass":
        if name == "accuracy":
            return (y == yhat).mean(axis=1)
        if name in ("precision", "recall", "f1"):
            return _macro(y, yhat, s.classes, name)
        return np.full(len(idx), np.nan)
    yb, hb = y.astype(bool), yhat.astype(bool)
    if name == "accuracy":
        return (yb == hb).mean(axis=1)
    tp, fp, fn = _binary_counts(yb, hb)
    if name == "precision":
        return _ratio(tp, tp + fp)
    if name == "recall":
        return _ratio(tp, tp + fn)
    if name == "f1":
        return _ratio(2 * tp, 2 * tp + fp + fn)
    if s.p is None:
        return np.full(len(idx), np.nan)
    p = s.p[idx]
    if name == "roc_auc":
        return _auc(yb, p)
    if name == "log_loss":
        q = np.clip(p, EPS, 1 - EPS)
        return -np.mean(np.where(yb, np.log(q), np.log(1 - q)), axis=1)
    return _calibration(yb, p)


def _regression(name: str, s: Labelled, idx: np.ndarray) -> np.ndarray:
    y, yhat = s.y[idx], s.yhat[idx]
    err = yhat - y
    if name == "mae":
        return np.abs(err).mean(axis=1)
    if name == "rmse":
        return np.sqrt((err**2).mean(axis=1))
    if name == "mape":
        nonzero = y != 0
        share = np.where(nonzero, np.abs(err) / np.where(nonzero, np.abs(y), 1), 0)
        return _ratio(share.sum(axis=1), nonzero.sum(axis=1))
    ss_res = (err**2).sum(axis=1)
    ss_tot = ((y - y.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    return 1 - _ratio(ss_res, ss_tot)


def metrics_for(s: Labelled) -> tuple[Metric, ...]:
    if s.task == "regression":
        return REGRESSION
    if s.task == "multiclass":
        return tuple(m for m in CLASSIFICATION if m.name in ("accuracy", "precision", "recall", "f1"))
    return tuple(m for m in CLASSIFICATION if s.p is not None or not m.needs_probability)


def compute(name: str, s: Labelled, idx: np.ndarray) -> np.ndarray:
    """``name`` for each row of ``idx`` (row indices into ``s``), one value per row."""
    fn: Callable[[str, Labelled, np.ndarray], np.ndarray] = _regression if s.task == "regression" else _classification
    with np.errstate(divide="ignore", invalid="ignore"):
        return fn(name, s, idx)


def value(name: str, s: Labelled) -> float:
    return float(compute(name, s, np.arange(len(s))[None, :])[0])
