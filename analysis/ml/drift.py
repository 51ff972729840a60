"""``driftline diff --model``: feature and prediction drift between two sides of one model.

Why through the agent diff's engine: it already gives every dimension the test that fits its type (KS,
a discrete-aware test for integer values, chi-square with rare categories pooled or Fisher), an effect
with an interval, one weighted-Holm correction over the whole family and floors below which a real
but tiny change is "detectable but negligible". Tools that test 100 features separately at 5% raise
an alarm on most A/A pairs; here the report's family-wise error is at most alpha however many
features (and ``--by`` segments) a model has. What is model-specific lives here: which columns are
dimensions, in which units an effect is read (a numeric feature's mean shift in baseline standard
deviations; a category's share in points); how a side is selected and read is ``sides.py``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from driftline.analysis.diff import segments
from driftline.analysis.diff.dimensions import Dimension
from driftline.analysis.diff.engine import Comparison, StatSettings, compare, verdict
from driftline.analysis.diff.sides import SelectionError, SideSpec
from driftline.analysis.ml import hypotheses as model_hypotheses
from driftline.analysis.ml import multivariate
from driftline.analysis.ml import performance as perf_mod
from driftline.analysis.ml.sides import UNIT, ModelSide, feature_columns, has_resends, load_side, segment_keys
from driftline.analysis.report.model import DimensionResult, ModelPerformance, Report, Verdict
from driftline.collector.schema import FEATURE_PREFIX, SEGMENT_PREFIX

# Floors and block thresholds (the minimal effect of interest, and the effect that stops a release):
# a numeric feature's mean moving 0.05 baseline SDs is negligible, 0.5 SD serious; a category's (or
# the missing rate's) share moving 2 points is negligible, 10 points serious — the agent diff's floors.
NUMERIC_FLOOR_SD, NUMERIC_BLOCK_SD = 0.05, 0.5
SHARE_FLOOR, SHARE_BLOCK = 0.02, 0.10
MISSING_PREFIX = "missing:"
FEATURES_PER_READ = 16  # features read per query: 2 sides x 1M inferences x 16 x 8 bytes = 256 MB


def _numeric(t: pa.DataType) -> bool:
    return pa.types.is_floating(t) or pa.types.is_integer(t)


def dimensions(
    a: dict[str, pa.Array],
    b: dict[str, pa.Array],
    n_a: int,
    n_b: int,
    weights: dict[str, float] | None = None,
) -> tuple[Dimension, ...]:
    """Every feature (numeric: mean shift in baseline SDs; boolean or text: the share that moved most),
    its missing rate where either side has missing values, and the prediction (value and class).
    Adds the missing-rate columns to ``a`` and ``b``. A feature only one side has is all missing on
    the other (its missing rate moves from or to 100%)."""
    dims: list[Dimension] = []
    for column in ("prediction", "prediction_class"):
        if all(column in side and side[column].null_count < len(side[column]) for side in (a, b)):
            kind = "numeric" if column == "prediction" else "category"
            title = "Prediction (value)" if column == "prediction" else "Prediction (class)"
            dims.append(_dimension(column, title, kind))
    features = sorted({c for side in (a, b) for c in side if c.startswith(FEATURE_PREFIX)})
    for column in features:
        types = {side[column].type for side in (a, b) if column in side and side[column].null_count < len(side[column])}
        if not types:
            continue
        name = column.removeprefix(FEATURE_PREFIX)
        for side, n in ((a, n_a), (b, n_b)):
            if column not in side:
                side[column] = pa.nulls(n, next(iter(types)))
        kind = "numeric" if all(_numeric(t) for t in types) else "category"
        if kind == "category" and len(types) > 1:  # a feature whose kind differs between sides: as text
            for side in (a, b):
                col = side[column]
                text = pc.if_else(col, "true", "false") if pa.types.is_boolean(col.type) else col.cast(pa.string())
                side[column] = text
        weight = (weights or {}).get(name, 1.0)  # the feature's importance: its share of the error budget
        dims.append(replace(_dimension(column, name, kind), weight=weight))
        if a[column].null_count or b[column].null_count:
            missing = MISSING_PREFIX + column
            for side in (a, b):
                side[missing] = missing_flags(side[column])
            dims.append(replace(_dimension(missing, f"{name} (missing rate)", "category"), weight=0.5 * weight))
    return tuple(dims)


MISSING_LABELS = pa.array(["present", "missing"])


def missing_flags(column: pa.Array | pa.ChunkedArray) -> pa.DictionaryArray:
    """ "missing" / "present" per row, dictionary-encoded (one byte a row, no string built per row)."""
    flags = pc.cast(pc.is_null(column), pa.int8())
    if isinstance(flags, pa.ChunkedArray):
        flags = flags.combine_chunks()
    return pa.DictionaryArray.from_arrays(flags, MISSING_LABELS)


def _dimension(column: str, title: str, kind: str) -> Dimension:
    if kind == "numeric":
        return Dimension(column, title, "numeric", column, 1.0, NUMERIC_FLOOR_SD, NUMERIC_BLOCK_SD, "sd", "SD")
    return Dimension(column, title, "category", column, 1.0, SHARE_FLOOR, SHARE_BLOCK)


def compare_uncorrected(
    a: dict[str, pa.Array],
    b: dict[str, pa.Array],
    n_a: int,
    n_b: int,
    settings: StatSettings,
    by: str | None = None,
    by_a: np.ndarray | None = None,
    by_b: np.ndarray | None = None,
    weights: dict[str, float] | None = None,
) -> tuple[Comparison, segments.Segmented | None, tuple[Dimension, ...]]:
    """Every dimension of two sides' columns compared (with the segments of ``by`` when given), before
    the correction; returns the dimensions used. ``weights``: per feature name, its weight in the
    weighted Holm correction (importance; 1 when not given)."""
    used = replace(settings, dimensions=dimensions(a, b, n_a, n_b, weights))
    comparison = compare(a, b, used)
    segmented = None
    if by is not None and by_a is not None and by_b is not None:
        segmented = segments.compare_segments(a, b, by_a, by_b, by, used)
    return comparison, segmented, used.dimensions


def compare_columns(
    a: dict[str, pa.Array],
    b: dict[str, pa.Array],
    n_a: int,
    n_b: int,
    settings: StatSettings,
    by: str | None = None,
    by_a: np.ndarray | None = None,
    by_b: np.ndarray | None = None,
    keys: tuple[np.ndarray, np.ndarray] | None = None,
    weights: dict[str, float] | None = None,
) -> tuple[Comparison, segments.Segmented | None, StatSettings]:
    """Every dimension of two sides' columns compared and corrected as one family (with the segments
    of ``by`` when given); returns the settings whose dimensions were used. ``keys``: each side's row
    identity hashes (``ModelSide.sample_keys``), which pick the multivariate signal's rows."""
    comparison, segmented, dims = compare_uncorrected(a, b, n_a, n_b, settings, by, by_a, by_b, weights)
    collector = multivariate.Collector(n_a, n_b, settings.seed, *(keys or (None, None)))
    collector.add(a, b)
    joint = compare_multivariate(collector, n_a, n_b, settings, by, by_a, by_b)
    if joint is not None:
        comparison, segmented = _merge((comparison, segmented), joint[:2])
        dims += joint[2]
    settings = replace(settings, dimensions=dims)
    segments.correct_together(comparison, segmented, settings)
    return comparison, segmented, settings


def compare_multivariate(
    collector: multivariate.Collector,
    n_a: int,
    n_b: int,
    settings: StatSettings,
    by: str | None = None,
    by_a: np.ndarray | None = None,
    by_b: np.ndarray | None = None,
) -> tuple[Comparison, segments.Segmented | None, tuple[Dimension, ...]] | None:
    """The multivariate dimension (PCA reconstruction error of held-out rows), uncorrected; None when
    there are no features to reconstruct."""
    errors = collector.errors()
    if errors is None:
        return None
    dims = (_dimension(multivariate.NAME, multivariate.TITLE, "numeric"),)
    used = replace(settings, dimensions=dims)
    a, b = {multivariate.NAME: errors[0]}, {multivariate.NAME: errors[1]}
    comparison = compare(a, b, used)
    segmented = None
    if by is not None and by_a is not None and by_b is not None:
        segmented = segments.compare_segments(a, b, by_a, by_b, by, used)
    return comparison, segmented, dims


def _merge(
    total: tuple[Comparison, segments.Segmented | None],
    part: tuple[Comparison, segments.Segmented | None],
) -> tuple[Comparison, segments.Segmented | None]:
    """One slice of features' results added to those of the slices before (the same rows, the same
    bootstrap indices: one comparison, as if every feature had been read at once)."""
    comparison, segmented = total
    comparison.results += part[0].results
    comparison.replicates.update(part[0].replicates)
    if segmented is None:
        return comparison, part[1]
    if part[1] is not None:
        by_value = {value: comp for value, comp, _, _ in segmented.compared}
        for value, comp, _, _ in part[1].compared:
            by_value[value].results += comp.results
            by_value[value].replicates.update(comp.replicates)
    return comparison, segmented


def check_weights(weights: dict[str, float] | None, features: list[str]) -> None:
    """Every weighted feature exists and every weight is positive (a zero weight would take a feature
    out of the family silently: leave it out of the data instead)."""
    known = {f.removeprefix(FEATURE_PREFIX) for f in features}
    for name, w in (weights or {}).items():
        if name not in known:
            raise SelectionError(
                f"weight for {name!r}: no feature of that name; known: {', '.join(sorted(known)[:20])}"
            )
        if not (isinstance(w, int | float) and w > 0 and np.isfinite(w)):
            raise SelectionError(f"weight for {name!r} must be a positive number, not {w!r}")


def build_model_report(
    con: duckdb.DuckDBPyConnection,
    model: str,
    baseline: SideSpec,
    candidate: SideSpec,
    *,
    settings: StatSettings,
    data_root: str,
    by: str | None = None,
    performance: PerformanceOptions | None = None,
    rules: list[dict[str, Any]] | None = None,  # [[model_hypothesis]] overrides of the shipped rules
    weights: dict[str, float] | None = None,  # per feature: its importance (weight in the correction)
) -> Report:
    """The drift report of ``model`` between two sides (versions, windows, or an imported reference),
    with the candidate's performance per window where labels (or probabilities to estimate from) exist.

    Features are read FEATURES_PER_READ at a time, so memory holds one slice of columns whatever the
    number of features; the slices' results form one family before the one correction."""
    key = SEGMENT_PREFIX + by.removeprefix(SEGMENT_PREFIX) if by is not None else None
    if key is not None:
        known = segment_keys(con)
        if key.removeprefix(SEGMENT_PREFIX) not in known:
            raise SelectionError(f"--by {by!r}: no segment key of that name; known: {', '.join(known) or 'none'}")
    resends = has_resends(con, model)
    extra = (key,) if key else ()
    a = load_side(con, model, baseline, extra=extra, resends=resends)
    b = load_side(con, model, candidate, extra=extra, resends=resends)
    for side in (a, b):
        if side.n == 0:
            raise SelectionError(f"the {'baseline' if side is a else 'candidate'} ({side.label}) has no inferences")
    va = vb = None
    if key is not None:
        va, vb = (np.asarray(pc.fill_null(s.columns[key], "(none)").to_pylist(), dtype=object) for s in (a, b))
    features = feature_columns(con)
    check_weights(weights, features)
    slices = [["prediction", "prediction_class"]] + [
        features[i : i + FEATURES_PER_READ] for i in range(0, len(features), FEATURES_PER_READ)
    ]
    total: tuple[Comparison, segments.Segmented | None] = (Comparison([]), None)
    dims: tuple[Dimension, ...] = ()
    collector = multivariate.Collector(a.n, b.n, settings.seed, a.sample_keys(con), b.sample_keys(con))
    reader = con.cursor()  # the next slice is read (DuckDB, off the GIL) while this one is compared

    def read(names: list[str]) -> tuple[dict[str, pa.Array], dict[str, pa.Array]]:
        return a.fetch(reader, names), b.fetch(reader, names)

    with ThreadPoolExecutor(1) as loader:
        pending = loader.submit(read, slices[0])
        for i in range(len(slices)):
            ca, cb = pending.result()
            if i + 1 < len(slices):
                pending = loader.submit(read, slices[i + 1])
            comparison, segmented, used = compare_uncorrected(ca, cb, a.n, b.n, settings, by, va, vb, weights)
            total = _merge(total, (comparison, segmented))
            dims += used
            collector.add(ca, cb)
            del ca, cb
    reader.close()
    joint = compare_multivariate(collector, a.n, b.n, settings, by, va, vb)
    if joint is not None:
        total = _merge(total, joint[:2])
        dims += joint[2]
    comparison, segmented = total
    settings = replace(settings, dimensions=dims)
    segments.correct_together(comparison, segmented, settings)
    v = verdict(comparison, settings, a.n, b.n, unit=UNIT)
    if v.verdict != "insufficient":
        v.reasons += unresolved(comparison.results)
    if v.verdict in ("review", "block"):  # the agent diff's next steps name agent commands
        v.next_steps = [
            "Look at the moved features' distributions below (upstream pipeline, new population, or the model?).",
            f"Inspect the candidate: driftline models show {model} --version {b.version or 'VERSION'}.",
            "If the change is intended, compare later versions against the candidate from now on.",
        ]
    segment_key = key.removeprefix(SEGMENT_PREFIX) if key is not None else None
    perf = model_performance(con, model, a, b, performance or PerformanceOptions(), settings, segment_key)
    _add_performance_to_verdict(v, perf)
    segment_dims = segmented.dimensions if segmented else []
    found = model_hypotheses.generate(model_hypotheses.load_rules(rules), comparison.results, perf, segment_dims)
    segment_rows, segment_dims = segments.results(segmented, settings) if segmented else ([], [])
    settings_doc = {k: val for k, val in asdict(replace(settings, dimensions=())).items() if k != "dimensions"}
    settings_doc["model"] = model
    settings_doc["floors"] = {
        "numeric_sd": NUMERIC_FLOOR_SD,
        "numeric_block_sd": NUMERIC_BLOCK_SD,
        "share": SHARE_FLOOR,
        "share_block": SHARE_BLOCK,
    }
    order = {"moved": 0, "negligible": 1, "unchanged": 2, "no data": 3}
    results = sorted(comparison.results, key=lambda r: (order[r.status], -abs(r.score), -abs(r.effect), r.name))
    return Report(
        generated_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        data_root=data_root,
        baseline=a.summary,
        candidate=b.summary,
        verdict=v,
        dimensions=results,
        hypotheses=found,
        configuration_changes=[],
        configuration={},
        cost=None,
        segments=segment_rows,
        segment_dimensions=[r for r in segment_dims if r.status == "moved"],
        settings=settings_doc,
        performance=perf,
    )


@dataclass(frozen=True)
class PerformanceOptions:
    window: str = "day"  # hour | day | week | a number of inferences
    coverage: float = perf_mod.COVERAGE
    positive: str | None = None


def has_labels(con: duckdb.DuckDBPyConnection, model: str) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM (SELECT 1 FROM label_events WHERE model = ? OR model IS NULL LIMIT 1)", [model]
    ).fetchall()
    return bool(rows[0][0])


def model_performance(
    con: duckdb.DuckDBPyConnection,
    model: str,
    a: ModelSide,
    b: ModelSide,
    options: PerformanceOptions,
    settings: StatSettings,
    by: str | None = None,
) -> ModelPerformance | None:
    """Both sides' rows with their labels (``inferences_labeled``), evaluated window by window (and
    segment by segment of ``by``, a known segment key); None without any label of this model."""
    if not has_labels(con, model):
        return None
    column = SEGMENT_PREFIX + by if by is not None else None
    rows = [
        perf_mod.load_rows(con, f"FROM inferences_labeled WHERE {side.where}{side.limit}", side.query[1], column)
        for side in (a, b)
    ]
    return perf_mod.evaluate(  # a --positive that is not a class: ValueError (a bad parameter, not a selection)
        rows[0],
        rows[1],
        window=options.window,
        coverage=options.coverage,
        positive=options.positive,
        alpha=settings.alpha,
        seed=settings.seed,
        segment_key=by,
    )


def _add_performance_to_verdict(v: Verdict, perf: ModelPerformance | None) -> None:
    """A final window whose metric fell beyond its floor makes a stable verdict a review; provisional
    windows never count."""
    fell = perf_mod.worse(perf)
    if perf is None:
        return
    provisional = [w.label for w in perf.windows if w.provisional]
    if fell:
        by_window: dict[str, list[str]] = {}
        for w, m in fell:
            word = "fell" if perf_mod.metrics.BY_NAME[m.name].higher_is_better else "rose"
            by_window.setdefault(w.label, []).append(
                f"{m.title} {word} {m.baseline:.3f} → {m.value:.3f} ({m.diff_low:+.3f} to {m.diff_high:+.3f})"
            )
        for label, parts in by_window.items():
            w = next(w for w in perf.windows + perf.segments if w.label == label)
            where = "segment" if w in perf.segments else "window"
            v.reasons.append(
                f"Performance worse in {where} {label} (labels {w.coverage:.0%} in): " + "; ".join(parts) + "."
            )
        steps = [
            "Look at the windows where performance got worse, and at what moved there (features, prediction).",
            "If the inputs did not move (see the hypotheses), retrain on recent labels: the outcome changed.",
        ]
        if v.verdict == "stable":
            v.verdict = "review"
            v.reasons = [r for r in v.reasons if not r.startswith("No dimension moved")]
            v.next_steps = steps
        else:
            v.next_steps = steps + v.next_steps
    if provisional:
        v.reasons.append(
            f"Provisional (labels below {perf.coverage_threshold:.0%}; shown, not judged): {', '.join(provisional)}."
        )


def unresolved(results: list[DimensionResult], shown: int = 8) -> list[str]:
    """A sentence naming what this sample cannot resolve: dimensions not found to move whose 95%
    interval still reaches beyond their floor (a shift that matters could hide there)."""
    open_ = [r for r in results if r.status == "unchanged" and (r.ci_high > r.floor or r.ci_low < -r.floor)]
    if not open_:
        return []
    open_.sort(key=lambda r: -max(abs(r.ci_low), abs(r.ci_high)) / r.floor if r.floor else 0.0)
    names = ", ".join(f"{r.title} ({_fmt_ci(r)})" for r in open_[:shown])
    more = f" and {len(open_) - shown} more" if len(open_) > shown else ""
    return [
        f"Cannot resolve at this sample size: {len(open_)} of {len(results)} dimensions were not found to move, "
        f"but their 95% interval still reaches beyond the floor — {names}{more}. Collect more inferences to rule "
        "those shifts out."
    ]


def _fmt_ci(r: DimensionResult) -> str:
    unit = " SD" if r.effect_name.endswith("_sd") else " pts" if r.kind == "category" else ""
    scale = 100.0 if r.kind == "category" else 1.0
    return f"{r.ci_low * scale:+.2f} to {r.ci_high * scale:+.2f}{unit}, floor {r.floor * scale:g}{unit}"


def moved_features(report: Report) -> set[str]:
    """Features whose distribution moved (their missing rate included: it names the feature too)."""
    out = set()
    for d in report.dimensions:
        if d.status != "moved":
            continue
        name = d.name.removeprefix(MISSING_PREFIX)
        if name.startswith(FEATURE_PREFIX):
            out.add(name.removeprefix(FEATURE_PREFIX))
    return out
