"""Model performance against late labels, window by window, with label maturity and estimates.

Why windows with a maturity flag: labels arrive hours or weeks after the inference (a chargeback, a
churned customer), so a recent window's labelled rows are few and often not a random few — positives
may be confirmed faster than negatives. Each candidate window reports its label coverage and delay; a
window below the coverage threshold is *provisional*: its metrics are shown, never tested and never part
of the verdict. When the rest of its labels land, the next (scheduled) report finds it final and tests
it; the report history keeps both. For binary classifiers that log probabilities, every window also
gets an estimate of accuracy, F1 and ROC AUC from the probabilities (``estimation``), and where labels
exist the report shows the estimate beside the realised value.

The tests: each final window's metric against the baseline's (the whole baseline side's labelled
rows), the difference with a bootstrap interval and a two-sided p-value from the bootstrap's standard
error; one Holm correction over every (final window, metric). A metric *moved* when that corrected test
is significant and its interval lies wholly beyond the metric's floor (2 points of accuracy, 5% of an
error...), as in the drift family.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from driftline.analysis.ml import estimation, metrics
from driftline.analysis.ml.metrics import Labelled, Metric
from driftline.analysis.report.model import ModelPerformance as Performance
from driftline.analysis.report.model import PerformanceMetric as MetricResult
from driftline.analysis.report.model import PerformanceWindow as Window
from driftline.analysis.stats.distributions import normal_sf
from driftline.analysis.stats.significance import weighted_holm

WINDOWS = {"hour": 3600, "day": 86_400, "week": 7 * 86_400}
COVERAGE = 0.8  # a window with fewer of its inferences labelled is provisional
POSITIVE_NAMES = ("1", "true", "yes", "positive")  # else the rarer label class is the positive one
MIN_LABELLED = 30  # labelled rows a window needs for a test (and the baseline for a comparison)
CLASS_DELAY_P = 0.01  # how sure the report must be that one class's labels arrive faster, to warn


@dataclass
class Rows:
    """One side's inferences with their labels (null where none arrived yet)."""

    time_s: np.ndarray  # seconds since the epoch
    pred_num: np.ndarray  # float, NaN where none
    pred_class: np.ndarray  # object: str or None
    proba: pa.Array  # map<string, double> per row
    label_num: np.ndarray
    label_class: np.ndarray
    delay_s: np.ndarray  # NaN where unlabelled
    segment: np.ndarray | None = None  # object: the --by segment value of each row

    @property
    def labelled(self) -> np.ndarray:
        return ~np.isnan(self.label_num) | (self.label_class != None)  # noqa: E711  (elementwise)

    def take(self, idx: np.ndarray) -> Rows:
        return Rows(
            self.time_s[idx],
            self.pred_num[idx],
            self.pred_class[idx],
            self.proba.take(pa.array(idx, pa.int64())),
            self.label_num[idx],
            self.label_class[idx],
            self.delay_s[idx],
            None if self.segment is None else self.segment[idx],
        )


def load_rows(
    con: duckdb.DuckDBPyConnection, from_where: str, params: list[Any], segment_column: str | None = None
) -> Rows:
    """``from_where`` selects a side's rows from ``inferences_labeled`` ("FROM ... WHERE ..."); with
    ``segment_column`` (a known ``segment.<key>`` column), each row's segment value too."""
    segment = f', "{segment_column}" AS seg' if segment_column else ""
    table = con.sql(
        "SELECT epoch_ns(time) / 1e9 AS t, prediction, prediction_class, probabilities, label, label_class, "
        f"label_delay_s{segment} {from_where}",
        params=params,
    ).to_arrow_table()

    def num(name: str) -> np.ndarray:
        return np.asarray(pc.fill_null(table.column(name).cast(pa.float64()), math.nan).to_numpy(), dtype=float)

    def obj(name: str) -> np.ndarray:
        return np.asarray(table.column(name).to_pylist(), dtype=object)

    return Rows(
        num("t"),
        num("prediction"),
        obj("prediction_class"),
        table.column("probabilities").combine_chunks(),
        num("label"),
        obj("label_class"),
        num("label_delay_s"),
        np.asarray(pc.fill_null(table.column("seg"), "(none)").to_pylist(), dtype=object) if segment_column else None,
    )


def _classes(*sides: Rows) -> list[str]:
    found = set()
    for s in sides:
        found |= {c for c in s.label_class[s.labelled] if c is not None}
        found |= {c for c in s.pred_class if c is not None}
    return sorted(found)


def task_of(baseline: Rows, candidate: Rows, positive: str | None) -> tuple[str, str | None, list[str]]:
    """binary | multiclass | regression, the positive class (binary), and the classes.

    Classification when labels come as classes, or as numbers that are all 0 or 1 (a binary label
    logged as a number); regression otherwise."""
    classes = _classes(baseline, candidate)
    has_class_labels = any((s.label_class[s.labelled] != None).any() for s in (baseline, candidate))  # noqa: E711
    numbers = np.concatenate([s.label_num[~np.isnan(s.label_num)] for s in (baseline, candidate)])
    if not has_class_labels and len(numbers) and not np.isin(numbers, (0.0, 1.0)).all():
        return "regression", None, []
    if not has_class_labels:
        classes = ["0", "1"]
    if positive is not None and positive not in classes and len(classes) >= 2:
        raise ValueError(f"--positive {positive!r} is not a class of this model; classes: {', '.join(classes)}")
    if len(classes) > 2:
        return "multiclass", None, classes
    if positive is None:
        positive = next((c for c in classes if c.lower() in POSITIVE_NAMES), None) or _rarer(
            baseline, candidate, classes
        )
    return "binary", positive, classes


def _rarer(baseline: Rows, candidate: Rows, classes: list[str]) -> str:
    """The rarer label class (fraud, churn, failure: the class a binary model is usually built to find);
    on a tie, the last in order."""
    if not classes:
        return "1"
    counts = {c: 0 for c in classes}
    for s in (baseline, candidate):
        for c in s.label_class[s.labelled]:
            if c in counts:
                counts[c] += 1
    return min(reversed(classes), key=lambda c: counts[c])


def _probability(rows: Rows, positive: str, classes: list[str]) -> np.ndarray | None:
    """The positive class's probability: from ``probabilities`` (or 1 - the other class's), else the
    numeric prediction when it is a score in [0, 1] and no class was logged. None if neither."""
    if len(rows.proba) and rows.proba.null_count < len(rows.proba):
        p = pc.map_lookup(rows.proba, positive, "first")
        other = [c for c in classes if c != positive]
        if other:
            q = pc.map_lookup(rows.proba, other[0], "first")
            p = pc.coalesce(p, pc.subtract(1.0, q))
        values = np.asarray(pc.fill_null(p, math.nan).to_numpy(zero_copy_only=False), dtype=float)
        if not np.isnan(values).any():
            return values
    pred = rows.pred_num
    score = (rows.pred_class == None).all() and not np.isnan(pred).any() and ((pred >= 0) & (pred <= 1)).all()  # noqa: E711
    if score and not np.isin(pred, (0.0, 1.0)).all():  # a 0/1 prediction is a class, not a probability
        return pred
    return None


def labelled_sample(rows: Rows, task: str, positive: str | None, classes: list[str]) -> Labelled:
    """The labelled rows of ``rows`` as metric inputs."""
    r = rows.take(np.flatnonzero(rows.labelled))
    if task == "regression":
        return Labelled(r.label_num, r.pred_num, None, task)
    if task == "multiclass":
        code = {c: i for i, c in enumerate(classes)}
        y = np.asarray([code.get(c, -1) for c in r.label_class])
        yhat = np.asarray([code.get(c, -2) for c in r.pred_class])
        return Labelled(y, yhat, None, task, len(classes))
    assert positive is not None
    return binary_sample(r, positive, classes)


def binary_sample(r: Rows, positive: str, classes: list[str]) -> Labelled:
    """Rows of a binary classifier (labels may be missing: then ``y`` is -1 there)."""
    p = _probability(r, positive, classes)
    y = np.where(
        r.label_class != None,  # noqa: E711
        r.label_class == positive,
        np.where(np.isnan(r.label_num), -1, r.label_num == 1),
    ).astype(int)
    if (r.pred_class != None).all():  # noqa: E711
        yhat = (r.pred_class == positive).astype(int)
    elif p is not None:
        yhat = (p >= 0.5).astype(int)
    else:
        yhat = (r.pred_num == 1).astype(int)
    return Labelled(y, yhat, p, "binary")


def _fmt(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def split_windows(rows: Rows, window: str) -> list[tuple[str, np.ndarray]]:
    """(label, row indices) per window: calendar buckets (UTC) or every N inferences in time order."""
    if len(rows.time_s) == 0:
        return []
    if window in WINDOWS:
        width = WINDOWS[window]
        bucket = np.floor(rows.time_s / width).astype(np.int64)
        out = []
        for b in np.unique(bucket):
            start = b * width
            label = _fmt(start)[: 13 if window == "hour" else 10] + ("" if window != "week" else " (week)")
            out.append((label, np.flatnonzero(bucket == b)))
        return out
    size = int(window)
    order = np.argsort(rows.time_s, kind="stable")
    return [(f"#{i // size + 1}", order[i : i + size]) for i in range(0, len(order), size)]


class _Bootstrap:
    """Replicate index rows for one sample (m-out-of-n beyond ``cap`` rows, spread rescaled to n)."""

    def __init__(self, n: int, reps: int, cap: int, rng: np.random.Generator) -> None:
        self.n = n
        sub = np.sort(rng.choice(n, cap, replace=False)) if n > cap else np.arange(n)
        self.idx = sub[rng.integers(0, len(sub), size=(reps, len(sub)))]
        self.sub = sub
        self.scale = math.sqrt(len(sub) / n)

    def replicates(self, name: str, s: Labelled, point: float) -> np.ndarray:
        reps = metrics.compute(name, s, self.idx)
        sub_point = metrics.compute(name, s, self.sub[None, :])[0]
        return point + (reps - sub_point) * self.scale


def _interval(reps: np.ndarray, point: float) -> tuple[float | None, float | None]:
    finite = reps[np.isfinite(reps)]
    if len(finite) < 10:
        return None, None
    low, high = np.quantile(finite, [0.025, 0.975])
    return float(min(low, point)), float(max(high, point))


def _none_if_nan(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _window(
    label: str,
    rows: Rows,
    task: str,
    positive: str | None,
    classes: list[str],
    threshold: float,
    is_baseline: bool = False,
) -> tuple[Window, Labelled]:
    mask = rows.labelled
    delays = rows.delay_s[mask & ~np.isnan(rows.delay_s)]
    coverage = float(mask.mean()) if len(mask) else 0.0
    w = Window(
        label,
        _fmt(float(rows.time_s.min())) if len(rows.time_s) else None,
        _fmt(float(rows.time_s.max())) if len(rows.time_s) else None,
        len(mask),
        int(mask.sum()),
        coverage,
        float(np.median(delays)) if len(delays) else None,
        float(np.quantile(delays, 0.9)) if len(delays) else None,
        provisional=not is_baseline and coverage < threshold,
    )
    return w, labelled_sample(rows, task, positive, classes)


def evaluate(
    baseline: Rows,
    candidate: Rows,
    *,
    window: str = "day",
    coverage: float = COVERAGE,
    positive: str | None = None,
    alpha: float = 0.05,
    reps: int = 400,
    cap: int = 2000,
    seed: int = 0,
    segment_key: str | None = None,
) -> Performance | None:
    """The candidate's performance per window against the baseline's; None when neither side has a
    label (nothing to say) — an unlabelled candidate with a labelled baseline still gets estimates.
    With ``segment_key`` (and ``Rows.segment``), also each segment's candidate against the same
    segment's baseline, tested in the same family as the windows."""
    if not baseline.labelled.any() and not candidate.labelled.any():
        return None
    task, positive, classes = task_of(baseline, candidate, positive)
    rng = np.random.default_rng(seed)
    base_w, base_s, base_reps = _reference("baseline", baseline, task, positive, classes, coverage, reps, cap, rng)
    chosen = metrics.metrics_for(base_s) if len(base_s) else ()
    can_estimate = task == "binary" and base_s.p is not None and len(base_s) >= MIN_LABELLED and positive is not None
    out = Performance(task, positive, window, coverage, base_w, [])
    tested: list[MetricResult] = []

    def judge(label: str, part: Rows, ref: Window, ref_reps: dict[str, np.ndarray]) -> Window:
        w, s = _window(label, part, task, positive, classes, coverage)
        estimates: dict[str, tuple[float, float, float]] = {}
        if can_estimate:
            all_rows = binary_sample(part, positive or "1", classes)
            if all_rows.p is not None:
                estimates = estimation.estimate(all_rows, base_s, seed=seed)
        boot = _Bootstrap(len(s), reps, cap, rng) if len(s) >= MIN_LABELLED else None
        for m in chosen:
            result = _metric(m, s, boot, ref, ref_reps, w.provisional)
            if m.name in estimates:
                result.estimated, result.est_low, result.est_high = (_none_if_nan(x) for x in estimates[m.name])
                if not w.provisional and result.value is not None and result.estimated is not None:
                    result.estimation_error = result.value - result.estimated  # realised - estimated
            if result.status == "pending":
                tested.append(result)
            w.metrics.append(result)
        return w

    for label, idx in split_windows(candidate, window):
        out.windows.append(judge(label, candidate.take(idx), base_w, base_reps))
    if segment_key is not None and baseline.segment is not None and candidate.segment is not None:
        for value in _segment_values(baseline, candidate):
            base_part = baseline.take(np.flatnonzero(baseline.segment == value))
            ref, ref_s, ref_reps = _reference(
                f"{segment_key}={value}", base_part, task, positive, classes, coverage, reps, cap, rng
            )
            if len(ref_s) < MIN_LABELLED:
                continue
            part = candidate.take(np.flatnonzero(candidate.segment == value))
            out.segments.append(judge(f"{segment_key}={value}", part, ref, ref_reps))
    _correct(tested, alpha)
    if can_estimate:
        out.estimation = (
            "CBPE: accuracy, F1 and ROC AUC expected from the probabilities, calibrated (isotonic) on the "
            "baseline's labelled rows; intervals from refitting the calibration and drawing the labels"
        )
    out.warnings += class_delay_warnings(candidate, task, positive, classes, out.windows)
    return out


MAX_SEGMENTS = 10  # segments whose performance is compared (the largest in the candidate)


def _segment_values(baseline: Rows, candidate: Rows) -> list[Any]:
    assert baseline.segment is not None and candidate.segment is not None
    values, counts = np.unique(candidate.segment.astype(str), return_counts=True)
    order = np.argsort(-counts, kind="stable")
    known = set(baseline.segment.astype(str))
    return [values[i] for i in order if values[i] in known][:MAX_SEGMENTS]


def _reference(
    label: str,
    rows: Rows,
    task: str,
    positive: str | None,
    classes: list[str],
    coverage: float,
    reps: int,
    cap: int,
    rng: np.random.Generator,
) -> tuple[Window, Labelled, dict[str, np.ndarray]]:
    """A reference sample (the baseline, or one of its segments): its metrics with intervals, and the
    bootstrap replicates each comparison against it uses."""
    ref, s = _window(label, rows, task, positive, classes, coverage, is_baseline=True)
    boot = _Bootstrap(len(s), reps, cap, rng) if len(s) >= MIN_LABELLED else None
    out: dict[str, np.ndarray] = {}
    for m in metrics.metrics_for(s) if len(s) else ():
        point = metrics.value(m.name, s)
        lo = hi = None
        if boot is not None:
            out[m.name] = boot.replicates(m.name, s, point)
            lo, hi = _interval(out[m.name], point)
        ref.metrics.append(MetricResult(m.name, m.title, _none_if_nan(point), lo, hi, status="baseline"))
    return ref, s, out


def _metric(
    m: Metric,
    s: Labelled,
    boot: _Bootstrap | None,
    base_w: Window,
    base_reps: dict[str, np.ndarray],
    provisional: bool,
) -> MetricResult:
    base = next(r for r in base_w.metrics if r.name == m.name)
    if len(s) == 0:
        return MetricResult(m.name, m.title, None, None, None, base.value, status="insufficient")
    point = metrics.value(m.name, s)
    result = MetricResult(m.name, m.title, _none_if_nan(point), None, None, base.value)
    if boot is None:
        result.status = "provisional" if provisional else "insufficient"
        return result
    reps = boot.replicates(m.name, s, point)
    result.ci_low, result.ci_high = _interval(reps, point)
    if base.value is not None and m.name in base_reps and np.isfinite(point):
        diff = reps - base_reps[m.name]
        result.difference = float(point - base.value)
        result.diff_low, result.diff_high = _interval(diff, result.difference)
        se = float(np.nanstd(diff, ddof=1))
        if se > 0 and np.isfinite(se):
            result.p_value = 2 * normal_sf(abs(result.difference) / se)
        else:
            result.p_value = 1.0 if result.difference == 0 else 0.0
    result.status = "provisional" if provisional else ("pending" if result.p_value is not None else "insufficient")
    return result


def _correct(tested: list[MetricResult], alpha: float) -> None:
    if not tested:
        return
    adjusted = weighted_holm([r.p_value or 1.0 for r in tested], [1.0] * len(tested))
    for r, q in zip(tested, adjusted, strict=True):
        r.p_adjusted = q
        m = metrics.BY_NAME[r.name]
        floor = m.floor * abs(r.baseline) if m.relative and r.baseline else m.floor
        low, high = r.diff_low, r.diff_high
        beyond = low is not None and high is not None and (low > floor or high < -floor)
        if q <= alpha and beyond:
            up = (low or 0) > 0
            r.status = "better" if up == m.higher_is_better else "worse"
        elif q <= alpha:
            r.status = "negligible"
        else:
            r.status = "unchanged"


def class_delay_warnings(
    rows: Rows, task: str, positive: str | None, classes: list[str], windows: list[Window]
) -> list[str]:
    """Warn when one class's labels arrive faster than the other's: metrics on windows whose labels
    are not all in then over-represent the fast class (biased, not merely noisy)."""
    if task != "binary" or positive is None or not any(w.coverage < 1 for w in windows):
        return []
    mask = rows.labelled & ~np.isnan(rows.delay_s)
    r = rows.take(np.flatnonzero(mask))
    y = binary_sample(r, positive, classes).y
    pos, neg = r.delay_s[y == 1], r.delay_s[y == 0]
    if len(pos) < MIN_LABELLED or len(neg) < MIN_LABELLED:
        return []
    from scipy.stats import mannwhitneyu

    p = float(mannwhitneyu(pos, neg).pvalue)
    mp, mn = float(np.median(pos)), float(np.median(neg))
    if p >= CLASS_DELAY_P or max(mp, mn) < 1.5 * max(min(mp, mn), 1e-9):
        return []
    negative = next((c for c in classes if c != positive), "0")
    fast, slow = (positive, negative) if mp < mn else (negative, positive)
    return [
        f"Labels of class {fast!r} arrive faster than those of class {slow!r} (median delay "
        f"{_duration(min(mp, mn))} vs {_duration(max(mp, mn))}): performance on windows whose labels are not "
        "all in is biased towards the faster class. Read provisional windows as indicative only, and wait "
        "for their labels."
    ]


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} d"


def worse(perf: Performance | None) -> list[tuple[Window, MetricResult]]:
    """Final windows' (and segments') metrics that moved the wrong way (for the verdict)."""
    if perf is None:
        return []
    return [(w, m) for w in perf.windows + perf.segments for m in w.metrics if m.status == "worse"]
