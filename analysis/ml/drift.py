"""``driftline diff --model``: feature and prediction drift between two sides of one model.

Why through the agent diff's engine: it already gives every dimension the test that fits its type (KS,
a discrete-aware test for integer values, chi-square with rare categories pooled or Fisher), an effect
with an interval, one weighted-Holm correction over the whole family and floors below which a real
but tiny change is "detectable but negligible". Tools that test 100 features separately at 5% raise
an alarm on most A/A pairs; here the report's family-wise error is at most alpha however many
features (and ``--by`` segments) a model has. What is model-specific lives here: which columns are
dimensions, in which units an effect is read (a numeric feature's mean shift in baseline standard
deviations; a category's share in points), and how a side is selected from ``inferences``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from driftline.analysis.diff import segments
from driftline.analysis.diff.dimensions import Dimension
from driftline.analysis.diff.engine import Comparison, StatSettings, compare, verdict
from driftline.analysis.diff.sides import ANY, SelectionError, SideSpec
from driftline.analysis.report.model import DimensionResult, Report, SideSummary
from driftline.collector.schema import FEATURE_PREFIX, SEGMENT_PREFIX

# Floors and block thresholds (the minimal effect of interest, and the effect that stops a release):
# a numeric feature's mean moving 0.05 baseline SDs is negligible, 0.5 SD serious; a category's (or
# the missing rate's) share moving 2 points is negligible, 10 points serious — the agent diff's floors.
NUMERIC_FLOOR_SD, NUMERIC_BLOCK_SD = 0.05, 0.5
SHARE_FLOOR, SHARE_BLOCK = 0.02, 0.10
MISSING_PREFIX = "missing:"
UNIT = "inferences"


@dataclass
class ModelSide:
    version: str | None
    columns: dict[str, pa.Array]
    summary: SideSummary

    @property
    def n(self) -> int:
        return self.summary.runs

    @property
    def label(self) -> str:
        return self.summary.label


def model_versions(con: duckdb.DuckDBPyConnection, model: str) -> list[str]:
    """The model's versions in order of first appearance."""
    rows = con.execute(
        "SELECT model_version FROM inferences WHERE model = ? AND model_version IS NOT NULL "
        "GROUP BY 1 ORDER BY min(time), 1",
        [model],
    ).fetchall()
    return [r[0] for r in rows]


def _resolve(con: duckdb.DuckDBPyConnection, model: str, spec: SideSpec) -> str | None:
    if spec.version == ANY:
        return None
    known = model_versions(con, model)
    if not known:
        models = [r[0] for r in con.execute("SELECT DISTINCT model FROM inferences ORDER BY 1").fetchall()]
        raise SelectionError(
            f"no inferences of model {model!r}" + (f"; known models: {', '.join(models)}" if models else "")
        )
    if spec.version == "latest":
        return known[-1]
    if spec.version == "previous":
        if len(known) < 2:
            raise SelectionError(f"'previous' needs two versions of {model!r}; it has {', '.join(known)}")
        return known[-2]
    if spec.version not in known:
        raise SelectionError(f"model {model!r} has no version {spec.version!r}; known: {', '.join(known)}")
    return spec.version


def load_side(con: duckdb.DuckDBPyConnection, model: str, spec: SideSpec) -> ModelSide:
    """One side's inferences (the newest ``spec.last`` when given) as Arrow columns."""
    version = _resolve(con, model, spec)
    clauses, params = ["model = ?"], [model]
    if version is not None:
        clauses.append("model_version = ?")
        params.append(version)
    if spec.env:
        clauses.append("environment = ?")
        params.append(spec.env)
    if spec.since:
        clauses.append("time >= ?")
        params.append(spec.since)
    if spec.until:
        clauses.append("time < ?")
        params.append(spec.until)
    limit = f" ORDER BY time DESC LIMIT {int(spec.last)}" if spec.last else ""
    table = con.sql(
        f"SELECT * EXCLUDE (probabilities, trace_id, span_id, received_at) FROM inferences "
        f"WHERE {' AND '.join(clauses)}{limit}",
        params=params,
    ).to_arrow_table()
    times = table.column("time").cast(pa.timestamp("us", tz="UTC"), safe=False)  # datetime holds microseconds
    start = pc.min(times).as_py() if table.num_rows else None
    end = pc.max(times).as_py() if table.num_rows else None
    label = version or "all versions"
    if spec.since or spec.until:
        label += f" [{_fmt(spec.since) or '…'} → {_fmt(spec.until) or 'now'}]"
    selector = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(spec).items() if v is not None}
    summary = SideSummary(
        label=label,
        selector={**selector, "model": model, "resolved_version": version},
        runs=table.num_rows,
        start=_fmt(start),
        end=_fmt(end),
        versions=sorted({v for v in table.column("model_version").to_pylist() if v is not None}),
        agents=[model],
        environments=sorted({v for v in table.column("environment").to_pylist() if v is not None}),
        unit=UNIT,
    )
    columns = {name: table.column(name).combine_chunks() for name in table.column_names}
    return ModelSide(version, columns, summary)


def _fmt(t: datetime | None) -> str | None:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t else None


def _numeric(t: pa.DataType) -> bool:
    return pa.types.is_floating(t) or pa.types.is_integer(t)


def dimensions(a: dict[str, pa.Array], b: dict[str, pa.Array], n_a: int, n_b: int) -> tuple[Dimension, ...]:
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
        dims.append(_dimension(column, name, kind))
        if a[column].null_count or b[column].null_count:
            missing = MISSING_PREFIX + column
            for side in (a, b):
                side[missing] = pc.if_else(pc.is_null(side[column]), "missing", "present")
            dims.append(replace(_dimension(missing, f"{name} (missing rate)", "category"), weight=0.5))
    return tuple(dims)


def _dimension(column: str, title: str, kind: str) -> Dimension:
    if kind == "numeric":
        return Dimension(column, title, "numeric", column, 1.0, NUMERIC_FLOOR_SD, NUMERIC_BLOCK_SD, "sd", "SD")
    return Dimension(column, title, "category", column, 1.0, SHARE_FLOOR, SHARE_BLOCK)


def compare_columns(
    a: dict[str, pa.Array],
    b: dict[str, pa.Array],
    n_a: int,
    n_b: int,
    settings: StatSettings,
    by: str | None = None,
    by_a: np.ndarray | None = None,
    by_b: np.ndarray | None = None,
) -> tuple[Comparison, segments.Segmented | None, StatSettings]:
    """Every dimension of two sides' columns compared and corrected as one family (with the segments
    of ``by`` when given); returns the settings whose dimensions were used."""
    settings = replace(settings, dimensions=dimensions(a, b, n_a, n_b))
    comparison = compare(a, b, settings)
    segmented = None
    if by is not None and by_a is not None and by_b is not None:
        segmented = segments.compare_segments(a, b, by_a, by_b, by, settings)
    segments.correct_together(comparison, segmented, settings)
    return comparison, segmented, settings


def build_model_report(
    con: duckdb.DuckDBPyConnection,
    model: str,
    baseline: SideSpec,
    candidate: SideSpec,
    *,
    settings: StatSettings,
    data_root: str,
    by: str | None = None,
) -> Report:
    """The drift report of ``model`` between two sides (versions, windows, or an imported reference)."""
    a, b = load_side(con, model, baseline), load_side(con, model, candidate)
    for side in (a, b):
        if side.n == 0:
            raise SelectionError(f"the {'baseline' if side is a else 'candidate'} ({side.label}) has no inferences")
    va = vb = None
    if by is not None:
        key = SEGMENT_PREFIX + by.removeprefix(SEGMENT_PREFIX)
        if key not in a.columns or key not in b.columns:
            known = sorted(c.removeprefix(SEGMENT_PREFIX) for c in a.columns if c.startswith(SEGMENT_PREFIX))
            raise SelectionError(f"--by {by!r}: no segment key of that name; known: {', '.join(known) or 'none'}")
        va, vb = (np.asarray(pc.fill_null(s.columns[key], "(none)").to_pylist(), dtype=object) for s in (a, b))
    comparison, segmented, settings = compare_columns(a.columns, b.columns, a.n, b.n, settings, by, va, vb)
    v = verdict(comparison, settings, a.n, b.n, unit=UNIT)
    if v.verdict != "insufficient":
        v.reasons += unresolved(comparison.results)
    if v.verdict in ("review", "block"):  # the agent diff's next steps name agent commands
        v.next_steps = [
            "Look at the moved features' distributions below (upstream pipeline, new population, or the model?).",
            f"Inspect the candidate: driftline models show {model} --version {b.version or 'VERSION'}.",
            "If the change is intended, compare later versions against the candidate from now on.",
        ]
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
        hypotheses=[],
        configuration_changes=[],
        configuration={},
        cost=None,
        segments=segment_rows,
        segment_dimensions=[r for r in segment_dims if r.status == "moved"],
        settings=settings_doc,
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
    unit = " SD" if r.effect_name == "mean_shift_sd" else " pts" if r.kind == "category" else ""
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
