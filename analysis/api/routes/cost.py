"""``/cost`` and ``/cost/series``: priced model calls grouped as ``driftline cost`` groups them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query

from driftline.analysis.api.context import API, Context, records

Since = Annotated[str | None, Query(max_length=64, description="a duration ago (7d, 12h) or an ISO time")]


def router(ctx: Context) -> APIRouter:
    r = APIRouter()

    def priced_calls(by: str, since: str | None, agent: str | None, env: str | None) -> tuple[Any, float, list[str]]:
        """A connection holding ``_costed``/``_report`` (as ``driftline cost``), the total and unpriced models."""
        from driftline.analysis.cost import grouped_costs
        from driftline.analysis.diff.sides import SelectionError, parse_time

        try:
            start = parse_time(since)
        except SelectionError as exc:
            raise HTTPException(422, detail=[{"loc": ["query", "since"], "msg": str(exc)}]) from exc
        c = ctx.con(only_runs=True)
        clauses, params = (["CAST(c.start_time AS TIMESTAMPTZ) >= ?"], [start]) if start else (["true"], [])
        total, unpriced = grouped_costs(c, by, clauses, params, agent, env, source="costed_calls")
        return c, total, unpriced

    @r.get(f"{API}/cost", dependencies=ctx.auth)
    def cost(
        by: Literal["model", "version", "day", "agent"] = "model",
        since: Since = None,
        agent: str | None = None,
        env: str | None = None,
    ) -> dict[str, Any]:
        c, total, unpriced = priced_calls(by, since, agent, env)
        return {
            "by": by,
            "rows": records(c.execute("SELECT * FROM _report")),
            "total": total,
            "unpriced_models": unpriced,
        }

    @r.get(f"{API}/cost/series", dependencies=ctx.auth)
    def cost_series(
        by: Literal["model", "version", "agent"] = "model",
        bucket: Literal["hour", "day"] = "hour",
        since: Since = "7d",
        agent: str | None = None,
        env: str | None = None,
    ) -> dict[str, Any]:
        """Cost per hour or day and per model/version/agent: the stacked chart of the Cost page."""
        from driftline.analysis.cost import COST_GROUPS

        c, total, unpriced = priced_calls(by, since, agent, env)
        points = records(
            c.execute(
                f"""SELECT date_trunc(?, CAST(start_time AS TIMESTAMPTZ)) AS t, {COST_GROUPS[by]} AS key,
                       round(sum(cost * weight), 6) AS cost, CAST(round(sum(weight)) AS BIGINT) AS calls
                FROM _costed GROUP BY ALL ORDER BY t, key""",
                [bucket],
            )
        )
        return {"by": by, "bucket": bucket, "points": points, "total": total, "unpriced_models": unpriced}

    return r
