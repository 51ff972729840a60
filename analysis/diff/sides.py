"""Which runs form each side of a diff: a version, ``latest``/``previous``, a time window, the last N.

Why resolved here, in SQL over ``runs``: the same selector drives ``diff``, ``report``, the scheduler
and the web API, and a side is just a WHERE clause (plus ORDER BY/LIMIT for ``--last``) whose rows
are loaded once, as Arrow columns, into a temp table the configuration and cost summaries reuse.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from driftline.analysis.report.model import SideSummary
from driftline.analysis.sql_literals import literal
from driftline.common.times import when

ANY = "*"
# runs columns a diff never reads; step_ms (a map per run) is read only to attribute a latency change;
# tool order is encoded from tool_sequence (dimensions._bigram_sets), not from the view's strings
UNUSED = ("step_ms", "spans", "cached_tokens", "cost_reported", "run_id", "tool_bigrams")


class SelectionError(ValueError):
    """A side cannot be resolved (unknown version, no versions yet, bad window)."""


def parse_time(value: str | None, now: datetime | None = None) -> datetime | None:
    """``7d``/``12h``/``30m``/``2w`` ago, or an ISO date/time (UTC unless it says otherwise)."""
    try:
        return when(value, now)
    except ValueError as exc:
        raise SelectionError(str(exc)) from exc


@dataclass(frozen=True)
class SideSpec:
    """One side of a diff as the user wrote it; ``version`` may be a name, ``latest``, ``previous`` or ``*``."""

    version: str = ANY
    agent: str | None = None
    env: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    last: int | None = None
    where: str | None = None  # an extra SQL predicate over runs (used by segments)
    run_ids: tuple[str, ...] | None = None  # exactly these runs (a named baseline, baselines.resolve_side)
    label: str | None = None  # how reports name the side (default: its version)


def run_filters(spec: SideSpec, version: str | None) -> tuple[str, list[Any]]:
    """A WHERE clause over ``runs`` (and its parameters) for a concrete version and the spec's scope."""
    clauses, params = ["true"], []
    if version is not None:
        clauses.append("version = ?")
        params.append(version)
    if spec.agent:
        clauses.append("agent = ?")
        params.append(spec.agent)
    if spec.env:
        clauses.append("environment = ?")
        params.append(spec.env)
    if spec.since:
        clauses.append("CAST(start_time AS TIMESTAMPTZ) >= ?")
        params.append(spec.since)
    if spec.until:
        clauses.append("CAST(start_time AS TIMESTAMPTZ) < ?")
        params.append(spec.until)
    if spec.where:
        clauses.append(f"({spec.where})")
    if spec.run_ids is not None:
        clauses.append("run_id IN (SELECT unnest(CAST(? AS VARCHAR[])))")
        params.append(list(spec.run_ids))
    return " AND ".join(clauses), params


def _inline(where: str, params: list[Any]) -> str:
    """``where`` with each ``?`` replaced by its parameter as an SQL literal."""
    parts = where.split("?")
    if len(parts) != len(params) + 1:
        raise ValueError("a filter value contains '?'")
    return parts[0] + "".join(literal(v) + p for v, p in zip(params, parts[1:], strict=True))


def versions(con: duckdb.DuckDBPyConnection, agent: str | None = None, env: str | None = None) -> list[dict[str, Any]]:
    """Versions in order of first appearance, with run counts and time ranges."""
    where, params = run_filters(SideSpec(agent=agent, env=env), None)
    rows = con.execute(
        f"SELECT version, count(*) AS runs, min(start_time) AS first_seen, max(start_time) AS last_seen, "
        f"count(*) FILTER (WHERE status = 'ERROR') AS errors, list(DISTINCT agent) FILTER (WHERE agent IS NOT NULL), "
        f"list(DISTINCT environment) FILTER (WHERE environment IS NOT NULL), "
        f"CASE WHEN bool_or(sample_rate < 1) THEN sum(1.0 / coalesce(sample_rate, 1.0)) END "
        f"FROM runs WHERE {where} AND version IS NOT NULL GROUP BY version ORDER BY first_seen, version",
        params,
    ).fetchall()
    keys = ("version", "runs", "first_seen", "last_seen", "errors", "agents", "environments", "runs_estimated")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def resolve_version(con: duckdb.DuckDBPyConnection, spec: SideSpec) -> str | None:
    """The concrete version a spec names (None for any version)."""
    if spec.version == ANY:
        return None
    if spec.version not in ("latest", "previous"):
        return spec.version
    known = [v["version"] for v in versions(con, spec.agent, spec.env)]
    if spec.version == "latest":
        if not known:
            raise SelectionError("there are no versions in the data yet (no run carries a version)")
        return known[-1]
    if len(known) < 2:
        raise SelectionError(f"'previous' needs two versions; the data has {len(known)}: {', '.join(known) or 'none'}")
    return known[-2]


@dataclass
class Side:
    label: str
    spec: SideSpec
    version: str | None
    table: str  # temp table holding the side's runs
    columns: dict[str, pa.ChunkedArray]
    summary: SideSummary
    filter: tuple[str, list[Any], str]  # its WHERE clause over runs, the clause's parameters, ORDER BY/LIMIT

    @property
    def n(self) -> int:
        return self.summary.runs


MONITORED = ("status", "outcome", "tool_sequence", "input_tokens", "output_tokens", "duration_ms", "cost")


def monitored_columns(
    con: duckdb.DuckDBPyConnection, spec: SideSpec, loaded: Side | None = None
) -> dict[str, list[Any]]:
    """The columns the sequential monitor reads, as Python lists, for a side: from ``loaded`` (the
    report's own side, when it is the same spec) or one narrow query (no temp table, no summary)."""
    if loaded is not None and loaded.spec == spec:
        return {c: loaded.columns[c].to_pylist() for c in MONITORED}
    version = resolve_version(con, spec)
    where, params = run_filters(spec, version)
    limit = f"ORDER BY start_time DESC LIMIT {int(spec.last)}" if spec.last else ""
    table = con.sql(f"SELECT {', '.join(MONITORED)} FROM runs WHERE {_inline(where, params)} {limit}").to_arrow_table()
    return {c: table.column(c).to_pylist() for c in MONITORED}


def unknown_version(
    con: duckdb.DuckDBPyConnection, version: str, agent: str | None = None, env: str | None = None
) -> SelectionError | None:
    """The one rule for a version no run carries (diff, runs, baselines): an error naming the known ones."""
    known = [v["version"] for v in versions(con, agent, env)]
    if version in known:
        return None
    return SelectionError(
        f"no runs of version {version!r}" + (f"; known versions: {', '.join(known)}" if known else " (no versions yet)")
    )


def load(con: duckdb.DuckDBPyConnection, spec: SideSpec, name: str) -> Side:
    """Materialize one side's runs into temp table ``_side_<name>`` and load its columns."""
    version = resolve_version(con, spec)
    where, params = run_filters(spec, version)
    table = f"_side_{name}"
    limit = f"ORDER BY start_time DESC LIMIT {int(spec.last)}" if spec.last else ""
    # the relation API hands DuckDB's result to Arrow without the extra copy a prepared statement's
    # result makes (a third of the load time at 100k runs); values are inlined as escaped literals
    query = f"SELECT * EXCLUDE ({', '.join(UNUSED)}) FROM runs WHERE {_inline(where, params)} {limit}"
    arrow = con.sql(query).to_arrow_table()
    con.register(table, arrow)  # the side's later queries (configuration, cost) read the Arrow table in place
    if version is not None and arrow.num_rows == 0:
        unknown = unknown_version(con, version, spec.agent, spec.env)
        if unknown is not None:
            raise unknown
    meta = con.execute(
        f"SELECT min(start_time), max(start_time), list(DISTINCT version) FILTER (WHERE version IS NOT NULL), "
        f"list(DISTINCT agent) FILTER (WHERE agent IS NOT NULL), "
        f"list(DISTINCT environment) FILTER (WHERE environment IS NOT NULL), "
        f"list(DISTINCT sample_rate) FILTER (WHERE sample_rate < 1), sum(1.0 / coalesce(sample_rate, 1.0)) "
        f"FROM {table}"
    ).fetchall()[0]  # fetchall: a pending result would block the next con.sql()
    selector = {
        k: (v.isoformat() if isinstance(v, datetime) else v)
        for k, v in asdict(spec).items()
        if v is not None and k != "run_ids"
    }
    label = spec.label or version or "all versions"
    if spec.since or spec.until:
        label += f" [{_fmt(spec.since) or '…'} → {_fmt(spec.until) or 'now'}]"
    if spec.run_ids is not None:
        selector["runs_listed"] = len(spec.run_ids)
        if arrow.num_rows == 0:
            raise SelectionError(f"none of the {len(spec.run_ids):,} runs of {label} is in the data any more")
        if arrow.num_rows < len(spec.run_ids):  # retention removed some: say so wherever the side is named
            label += f" ({arrow.num_rows:,} of {len(spec.run_ids):,} runs still in the data)"
    summary = SideSummary(
        label=label,
        selector={**selector, "resolved_version": version},
        runs=arrow.num_rows,
        start=_fmt(meta[0]),
        end=_fmt(meta[1]),
        versions=sorted(meta[2] or []),
        agents=sorted(meta[3] or []),
        environments=sorted(meta[4] or []),
        sample_rates=sorted(meta[5]) if meta[5] else None,
        runs_estimated=round(float(meta[6]), 1) if meta[5] else None,
    )
    columns = {c: arrow.column(c) for c in arrow.column_names}
    return Side(label, spec, version, table, columns, summary, (where, params, limit))


def _fmt(t: datetime | None) -> str | None:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t else None
