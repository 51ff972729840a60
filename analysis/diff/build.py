"""Assemble a drift report: load both sides, compare, correct, score, explain, price.

Why one function: ``driftline diff``, ``driftline report``, the scheduler and the web API all need
the same document; they differ only in how they render it.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any

import duckdb

from driftline.analysis.cost import PriceTable, delta_per_10k_runs
from driftline.analysis.diff import configuration, echoes, hypotheses, segments
from driftline.analysis.diff.dimensions import NONE_LABEL
from driftline.analysis.diff.engine import StatSettings, compare, verdict
from driftline.analysis.diff.segments import Segmented
from driftline.analysis.diff.sides import Side, SideSpec, load
from driftline.analysis.report.model import CostSummary, Report, SemanticSummary
from driftline.analysis.semantic import drift as semantic_drift
from driftline.analysis.semantic import topics
from driftline.collector.embed.model import EmbedderConfig, SemanticUnavailable

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SEGMENT_COLUMNS = {"agent", "version", "environment", "service_name", "status", "outcome", "model"}


def _cost(con: duckdb.DuckDBPyConnection, a: Side, b: Side, prices: PriceTable) -> CostSummary:
    def side(t: str) -> tuple[Any, ...]:
        return con.execute(
            f"SELECT avg(cost), sum(calls_cost_reported), sum(calls_cost_table), sum(calls_unpriced), "
            f"list_distinct(flatten(list(unpriced_models))) FROM {t}"
        ).fetchall()[0]  # fetchall: a pending result would block the connection's next query

    ra, rb = side(a.table), side(b.table)
    return CostSummary(
        currency=prices.currency,
        baseline_mean=ra[0],
        candidate_mean=rb[0],
        delta_per_10k_runs=delta_per_10k_runs(ra[0], rb[0]),
        baseline_sources={"reported": int(ra[1] or 0), "table": int(ra[2] or 0), "unpriced": int(ra[3] or 0)},
        candidate_sources={"reported": int(rb[1] or 0), "table": int(rb[2] or 0), "unpriced": int(rb[3] or 0)},
        unpriced_models=sorted(set(ra[4] or []) | set(rb[4] or [])),
        pricing_version=prices.version,
    )


def _step_shares(con: duckdb.DuckDBPyConnection, a: Side, b: Side) -> tuple[dict[str, float], dict[str, float]]:
    """Each span name's share of the run time of each side (one query for both)."""
    (wa, pa_, la), (wb, pb, lb) = a.filter, b.filter
    if la or lb:  # the last N runs of a side: each side's own ordered scan
        sides = f"""sa AS (SELECT step_ms, duration_ms FROM runs WHERE {wa} {la}),
            sb AS (SELECT step_ms, duration_ms FROM runs WHERE {wb} {lb})"""
        params = pa_ + pb
    else:  # one scan of runs (the step maps are its largest column) for both sides
        sides = f"""s AS MATERIALIZED (SELECT step_ms, duration_ms, ({wa}) AS in_a, ({wb}) AS in_b
                FROM runs WHERE ({wa}) OR ({wb})),
            sa AS (SELECT * FROM s WHERE in_a), sb AS (SELECT * FROM s WHERE in_b)"""
        params = pa_ + pb + pa_ + pb
    query = f"""WITH {sides}
        SELECT 'a', k, sum(v), (SELECT sum(duration_ms) FROM sa)
        FROM (SELECT unnest(map_keys(step_ms)) AS k, unnest(map_values(step_ms)) AS v FROM sa) GROUP BY k
        UNION ALL
        SELECT 'b', k, sum(v), (SELECT sum(duration_ms) FROM sb)
        FROM (SELECT unnest(map_keys(step_ms)) AS k, unnest(map_values(step_ms)) AS v FROM sb) GROUP BY k"""
    rows = con.execute(query, params).fetchall()
    shares: dict[str, dict[str, float]] = {"a": {}, "b": {}}
    for label, k, ms, total in rows:
        if total:
            shares[label][k] = (ms or 0.0) / total
    return shares["a"], shares["b"]


def _attribution(con: duckdb.DuckDBPyConnection, a: Side, b: Side) -> dict[str, str]:
    sa, sb = _step_shares(con, a, b)
    if not sb:
        return {"step": "n/a", "step_baseline": "n/a", "step_candidate": "n/a"}
    step = max(sorted(sb), key=lambda k: sb[k] - sa.get(k, 0.0))
    return {"step": step, "step_baseline": f"{sa.get(step, 0.0):.0%}", "step_candidate": f"{sb[step]:.0%}"}


def _segment_values(con: duckdb.DuckDBPyConnection, side: Side, key: str) -> list[str]:
    """The segment value of every run of a side, in the side table's row order."""
    if key in SEGMENT_COLUMNS - {"model"}:
        rows = con.execute(f"SELECT coalesce(CAST({key} AS VARCHAR), '(none)') FROM {side.table}").fetchall()
    elif key == "model":
        rows = con.execute(f"SELECT coalesce(models[1], '(none)') FROM {side.table}").fetchall()
    else:  # an attribute of any span of the run's trace, or of its resource
        rows = con.execute(
            f"""SELECT coalesce(v.value, '(none)') FROM {side.table} r LEFT JOIN (
                    SELECT trace_id, any_value(coalesce(attributes[$k], resource_attributes[$k])) AS value
                    FROM spans WHERE trace_id IN (SELECT trace_id FROM {side.table})
                      AND coalesce(attributes[$k], resource_attributes[$k]) IS NOT NULL
                    GROUP BY trace_id) v USING (trace_id)""",
            {"k": key},
        ).fetchall()
    return [r[0] for r in rows]


def _segments(con: duckdb.DuckDBPyConnection, a: Side, b: Side, key: str, settings: StatSettings) -> Segmented:
    import numpy as np

    va = np.asarray(_segment_values(con, a, key), dtype=object)
    vb = np.asarray(_segment_values(con, b, key), dtype=object)
    if not np.any(va != NONE_LABEL) and not np.any(vb != NONE_LABEL):  # a typo, not one segment "(none)"
        raise ValueError(
            f"--by {key}: no run of either side carries this key (a run column: {', '.join(sorted(SEGMENT_COLUMNS))};"
            " or an attribute of the run's spans or resource, e.g. tenant.id)"
        )
    return segments.compare_segments(a.columns, b.columns, va, vb, key, settings)


def build_report(
    con: duckdb.DuckDBPyConnection,
    baseline: SideSpec,
    candidate: SideSpec,
    *,
    settings: StatSettings,
    prices: PriceTable,
    data_root: str,
    rules: list[dict[str, Any]] | None = None,
    by: str | None = None,
    baseline_record: dict[str, Any] | None = None,
    loaded: dict[str, Side] | None = None,
    semantic: EmbedderConfig | None = None,
) -> Report:
    """The report for two side specs; ``loaded``, when given, receives the two loaded sides (the
    scheduler's monitor reads their runs without loading them again). ``semantic``: the embedding
    model (``[semantic]`` in driftline.toml; default the packaged MiniLM)."""
    if by is not None and not _IDENT.match(by) and not re.match(r"^[\w.\-/]+$", by):
        raise ValueError(f"--by {by!r}: give a runs column or an attribute key such as tenant.id")
    from driftline.analysis.baselines import resolve_side

    # a side "@name" is a named baseline: exactly its promoted runs (and the report names its record)
    baseline, named_record = resolve_side(data_root, baseline)
    candidate, _ = resolve_side(data_root, candidate)
    baseline_record = baseline_record or named_record
    a, b = load(con, baseline, "baseline"), load(con, candidate, "candidate")
    if loaded is not None:
        loaded.update(baseline=a, candidate=b)
    embedded, attached = _embed_answers(a, b, settings, data_root, semantic)
    # the fingerprints (Arrow and numpy kernels, which release the GIL) fill the cores the dimensions'
    # pool leaves idle between its tasks
    with ThreadPoolExecutor(1, thread_name_prefix="driftline-fingerprint") as side_work:
        fingerprints = side_work.submit(
            lambda: (configuration.fingerprint(a.columns), configuration.fingerprint(b.columns))
        )
        comparison = compare(a.columns, b.columns, settings)
        fa, fb = fingerprints.result()
    segmented = _segments(con, a, b, by, settings) if by else None
    # with --by, the overall dimensions and every segment's are one family (see diff/segments.py)
    segments.correct_together(comparison, segmented, settings)
    echoes.mark(comparison)
    v = verdict(comparison, settings, a.n, b.n)
    same_version = a.version is not None and a.version == b.version
    changes = configuration.changes(fa, fb, same_version)
    cost = _cost(con, a, b, prices)
    extras = {"cost_delta": _money(cost.delta_per_10k_runs, cost.currency)}
    found = hypotheses.generate(
        rules if rules is not None else hypotheses.load_rules(),
        comparison.results,
        changes,
        extras,
        step_attribution=lambda: _attribution(con, a, b),
    )
    if v.verdict == "insufficient":
        found = [h for h in found if h.dimension is None]  # configuration facts only; no behavioural guesses
    segment_rows, segment_dims = segments.results(segmented, settings) if segmented else ([], [])
    settings_doc = {k: val for k, val in asdict(replace(settings, dimensions=())).items() if k != "dimensions"}
    settings_doc["dimensions"] = {
        d.name: {"weight": d.weight, "floor": d.floor, "block": d.block} for d in settings.dimensions
    }
    if embedded is not None:
        settings_doc["semantic"] = embedded
    return Report(
        generated_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        data_root=data_root,
        baseline=a.summary,
        candidate=b.summary,
        verdict=v,
        dimensions=comparison.results,
        hypotheses=found,
        configuration_changes=changes,
        configuration={"baseline": fa, "candidate": fb},
        cost=cost,
        segments=segment_rows,
        segment_dimensions=[r for r in segment_dims if r.status == "moved"],
        settings=settings_doc,
        baseline_record=baseline_record,
        semantic=_themes(attached, comparison.results, settings.seed),
    )


def _embed_answers(
    a: Side, b: Side, settings: StatSettings, data_root: str, config: EmbedderConfig | None
) -> tuple[dict[str, Any] | None, semantic_drift.Attached | None]:
    """Embed both sides' stored answers for the semantic dimension (when it is enabled). What was
    embedded, or why it was skipped, goes into the report's settings; a missing extra skips the
    dimension, it never fails a diff that does not need it."""
    if not any(d.kind == "semantic" for d in settings.dimensions):
        return None, None
    try:
        attached = semantic_drift.attach(a.columns, b.columns, data_root, config, settings.seed)
    except SemanticUnavailable as exc:
        return {"skipped": str(exc)}, None
    return (attached.settings(), attached) if attached is not None else (None, None)


def _themes(attached: semantic_drift.Attached | None, results: list[Any], seed: int) -> SemanticSummary | None:
    """Themes and the comparer, when the semantic dimension was compared (both sides had answers)."""
    compared = any(r.name == "semantic" and r.status != "no data" for r in results)
    if attached is None or not compared:
        return None
    (ta, tb), (va, vb) = attached.texts, attached.vectors
    return topics.summarize(ta, va, tb, vb, attached.model, seed)


def _money(value: float | None, currency: str) -> str:
    if value is None:
        return "an unknown amount (unpriced models)"
    sign = "+" if value >= 0 else "−"
    symbol = "$" if currency == "USD" else f"{currency} "
    return f"{sign}{symbol}{abs(value):,.2f}"
