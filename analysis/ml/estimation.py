"""Performance without labels for binary classifiers that log probabilities (confidence-based estimation,
as NannyML's CBPE), with intervals that say how far the realised value can fall from the estimate.

Why it works and when: if the positive class's probability is calibrated, a row predicted positive is
correct with probability p and one predicted negative with 1 - p, so the expected confusion matrix of a
window — hence its accuracy, F1 and ROC AUC — follows from the probabilities alone, even under
covariate shift (the inputs move, P(y | x) does not). Calibration is learnt on the labelled baseline
(isotonic regression, the monotone map that fits the observed positive rate best), never assumed.

The interval: each of ``reps`` replicates refits the calibration on a bootstrap of the baseline (the
uncertainty of the map) and draws the window's labels from the calibrated probabilities (the luck of
which rows turn out positive); the percentile interval of the metric over replicates is where the
realised value should land. It does not hold when the shift is in P(y | x) itself (concept drift):
then the estimate and the realised value part — which is why the report shows both once labels land.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from driftline.analysis.ml import metrics
from driftline.analysis.ml.metrics import Labelled

ESTIMATED = ("accuracy", "f1", "roc_auc")
MAX_SIMULATED_ROWS = 20_000  # a larger window is subsampled for the replicates (its point estimate uses all)


@dataclass
class Calibration:
    """A monotone map from the model's probability to the observed positive rate (step function)."""

    x: np.ndarray  # sorted baseline probabilities
    y: np.ndarray  # isotonic fit at each

    @classmethod
    def fit(cls, p: np.ndarray, y: np.ndarray) -> Calibration:
        from scipy.optimize import isotonic_regression  # scipy.optimize loads scipy.stats: only when estimating

        order = np.argsort(p, kind="stable")
        px, yy = p[order], y[order].astype(float)
        return cls(px, np.asarray(isotonic_regression(yy).x))

    def __call__(self, p: np.ndarray) -> np.ndarray:
        return np.clip(np.interp(p, self.x, self.y), 0.0, 1.0)


def expected(name: str, q: np.ndarray, yhat: np.ndarray, score: np.ndarray) -> float:
    """The expected value of ``name`` for calibrated probabilities ``q``, predictions ``yhat`` (0/1)
    and the model's score (for ROC AUC: the ranking the curve is drawn from)."""
    pred = yhat.astype(bool)
    if name == "accuracy":
        return float(np.mean(np.where(pred, q, 1 - q)))
    if name == "f1":
        tp, fp, fn = q[pred].sum(), (1 - q[pred]).sum(), q[~pred].sum()
        return float(2 * tp / (2 * tp + fp + fn)) if (2 * tp + fp + fn) > 0 else float("nan")
    # ROC AUC: the expected true- and false-positive rates along the ranking by score
    order = np.argsort(-score, kind="stable")
    qs = q[order]
    tpr = np.concatenate([[0.0], np.cumsum(qs) / qs.sum()]) if qs.sum() > 0 else None
    fpr = np.concatenate([[0.0], np.cumsum(1 - qs) / (1 - qs).sum()]) if (1 - qs).sum() > 0 else None
    if tpr is None or fpr is None:
        return float("nan")
    return float(np.trapezoid(tpr, fpr))


def estimate(
    window: Labelled, reference: Labelled, *, reps: int = 200, seed: int = 0, level: float = 0.95
) -> dict[str, tuple[float, float, float]]:
    """Estimated accuracy, F1 and ROC AUC of ``window`` (its labels unused) with a ``level`` interval,
    from the calibration learnt on ``reference`` (labelled, with probabilities)."""
    assert window.p is not None and reference.p is not None
    rng = np.random.default_rng(seed)
    cal = Calibration.fit(reference.p, reference.y)
    q = cal(window.p)
    point = {name: expected(name, q, window.yhat, window.p) for name in ESTIMATED}
    rows = np.arange(len(window))
    if len(rows) > MAX_SIMULATED_ROWS:
        rows = np.sort(rng.choice(len(rows), MAX_SIMULATED_ROWS, replace=False))
    p_w, yhat_w = window.p[rows], window.yhat[rows]
    n_ref = len(reference)
    draws = np.empty((reps, len(rows)), dtype=bool)
    for r in range(reps):
        boot = rng.integers(0, n_ref, n_ref)
        q_r = Calibration.fit(reference.p[boot], reference.y[boot])(p_w)
        draws[r] = rng.random(len(rows)) < q_r
    # a subsampled window's spread is that of MAX_SIMULATED_ROWS rows: wider than the window's own (the
    # label-draw part shrinks with size, the calibration part does not) — conservative, never too narrow
    simulated = Labelled(draws.ravel(), np.tile(yhat_w, reps), np.tile(p_w, reps), "binary")
    idx = np.arange(reps * len(rows)).reshape(reps, len(rows))
    tail = (1 - level) / 2
    out = {}
    for name in ESTIMATED:
        values = metrics.compute(name, simulated, idx)
        values = values[np.isfinite(values)]
        if len(values) == 0:
            out[name] = (point[name], float("nan"), float("nan"))
            continue
        centre = float(np.mean(values))
        low, high = np.quantile(values, [tail, 1 - tail])
        low, high = point[name] + (low - centre), point[name] + (high - centre)
        out[name] = (point[name], float(min(low, point[name])), float(max(high, point[name])))
    return out
