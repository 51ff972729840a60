"""``/runs`` (a page of runs, filtered, sorted, with a cursor), ``/runs/{id}`` (its span tree) and
``/versions`` (each version's headline metrics)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query

from driftline.analysis.api.context import API, Context, as_json, records
from driftline.analysis.slow_runs import SLOW_DEFINITION, p95_by_version_sql

MAX_PAGE = 500
# sort key -> (column, cursor expression, type the cursor value is read back as). Sorting on the plain
# column lets DuckDB fetch the other columns of the top rows only; runs without a cost sort as -1
# (last when descending), which the cursor expression states and NULLS LAST/FIRST reproduces.
SORTS = {
    "start_time": ("start_time", "start_time", "TIMESTAMPTZ"),
    "duration_ms": ("duration_ms", "duration_ms", "DOUBLE"),
    "cost": ("cost", "coalesce(cost, -1.0)", "DOUBLE"),
}


def _encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode()


def _decode_cursor(cursor: str) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        assert isinstance(values, list) and len(values) == 2
        return values
    except Exception as exc:
        raise HTTPException(
            422, detail=[{"loc": ["query", "cursor"], "msg": "not a cursor this API returned"}]
        ) from exc


def router(ctx: Context) -> APIRouter:
    r = APIRouter()

    @r.get(f"{API}/runs", dependencies=ctx.auth)
    def runs(
        agent: str | None = None,
        version: str | None = None,
        env: str | None = None,
        status: Literal["OK", "ERROR"] | None = None,
        outcome: str | None = None,
        model: str | None = None,
        tool: str | None = None,
        q: Annotated[str | None, Query(max_length=200, description="text in the run id, agent or version")] = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        slow: Annotated[bool, Query(description="only runs slower than their version's 95th percentile")] = False,
        sort: Literal["start_time", "duration_ms", "cost"] = "start_time",
        order: Literal["desc", "asc"] = "desc",
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        from driftline.analysis.diff.sides import ANY, SideSpec, run_filters

        scope = SideSpec(version or ANY, agent=agent, env=env, since=started_after, until=started_before)
        where, params = run_filters(scope, version)
        clauses = [where]
        for column, value in (("status", status), ("outcome", outcome)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if model:
            clauses.append("list_contains(models, ?)")
            params.append(model)
        if tool:
            clauses.append("list_contains(tool_sequence, ?)")
            params.append(tool)
        if q:
            clauses.append(
                "(contains(run_id, ?) OR contains(coalesce(agent, ''), ?) OR contains(coalesce(version, ''), ?))"
            )
            params += [q, q, q]
        column, key, key_type = SORTS[sort]
        op = "<" if order == "desc" else ">"
        ordering = f"{column} {order} NULLS {'LAST' if order == 'desc' else 'FIRST'}, run_id {order}"
        if cursor:
            last_key, last_id = _decode_cursor(cursor)
            clauses.append(f"({key}, run_id) {op} (CAST(? AS {key_type}), ?)")
            params += [last_key, last_id]
        if slow:
            clauses.append("duration_ms > p95.slow_ms")
        # p95 per version over all its runs: the same yardstick whatever the page's filters
        p95_from = "runs" if slow else "runs WHERE version IN (SELECT version FROM page)"
        page_sql = f"""SELECT run_id, trace_id, agent, version, environment, start_time, duration_ms, status, outcome,
                       llm_calls, tool_calls, input_tokens, output_tokens, cost, models, tool_sequence
                FROM runs {"JOIN p95 USING (version)" if slow else ""} WHERE {" AND ".join(clauses)}
                ORDER BY {ordering} LIMIT {limit + 1}"""
        p95_sql = p95_by_version_sql(p95_from)
        ctes = f"p95 AS ({p95_sql}), page AS ({page_sql})" if slow else f"page AS ({page_sql}), p95 AS ({p95_sql})"
        rows = records(
            ctx.con(only_runs=True).execute(
                f"""WITH {ctes}
                SELECT page.*, coalesce(page.duration_ms > p95.slow_ms, false) AS slow
                FROM page LEFT JOIN p95 USING (version) ORDER BY {ordering}""",
                params,
            )
        )
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = None
        if more and rows:
            last = rows[-1][column]
            next_cursor = _encode_cursor([-1.0 if last is None else last, rows[-1]["run_id"]])
        return {"runs": rows, "next_cursor": next_cursor, "slow_definition": SLOW_DEFINITION}

    @r.get(f"{API}/runs/{{run_id}}", dependencies=ctx.auth)
    def run(run_id: str) -> dict[str, Any]:
        found = records(
            ctx.con(only_runs=True).execute("SELECT * EXCLUDE (step_ms) FROM runs WHERE run_id = ?", [run_id])
        )
        if not found:
            raise HTTPException(404, detail=f"no run {run_id!r}")
        summary = found[0]
        from driftline.analysis.db import connect_hours

        # the run's own hours (an hour of margin each side for spans of the trace outside the run)
        start = datetime.fromisoformat(summary["start_time"])
        end = start + timedelta(milliseconds=summary["duration_ms"] or 0)
        spans_con = connect_hours(
            ctx.settings.data, start - timedelta(hours=1), end + timedelta(hours=1), pricing=ctx.settings.pricing
        )
        spans = records(
            spans_con.execute(
                """SELECT s.span_id, s.parent_span_id, s.name, s.operation, s.start_time, s.end_time, s.duration_ms,
                      s.status_code, s.error_type, s.request_model, s.response_model, s.input_tokens, s.output_tokens,
                      s.tool_name, k.cost, k.cost_source, s.attributes, s.input_content, s.output_content,
                      s.agent_events
               FROM spans s LEFT JOIN llm_call_costs k USING (trace_id, span_id)
               WHERE s.trace_id = ? ORDER BY s.start_time""",
                [summary["trace_id"]],
            )
        )
        return {"run": summary, "spans": spans}

    @r.get(f"{API}/versions", dependencies=ctx.auth)
    def versions(agent: str | None = None, env: str | None = None) -> dict[str, Any]:
        """Versions in order of first appearance, with headline metrics (error rate, latency, tokens, cost)."""
        from driftline.analysis.diff.sides import ANY, SideSpec, run_filters
        from driftline.analysis.diff.sides import versions as list_versions

        c = ctx.con(only_runs=True)
        listed = list_versions(c, agent, env)
        where, params = run_filters(SideSpec(ANY, agent=agent, env=env), None)
        metrics = {
            r["version"]: r
            for r in records(
                c.execute(
                    f"""SELECT version, avg(CAST(status = 'ERROR' AS DOUBLE)) AS error_rate,
                           quantile_cont(duration_ms, 0.5) AS p50_ms, quantile_cont(duration_ms, 0.95) AS p95_ms,
                           avg(cost) AS mean_cost, avg(input_tokens) AS mean_input_tokens,
                           mode(outcome) AS top_outcome
                    FROM runs WHERE {where} AND version IS NOT NULL GROUP BY version""",
                    params,
                )
            )
        }
        for v in listed:
            v.update({k: val for k, val in metrics.get(v["version"], {}).items() if k != "version"})
        return {"versions": as_json(listed)}

    return r
