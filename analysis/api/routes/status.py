"""``/health``, ``/stats`` and ``/ingest``: what the console's header and Ingest page show."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from driftline.analysis.api import ingest
from driftline.analysis.api.context import API, Context, records


def router(ctx: Context) -> APIRouter:
    r = APIRouter()

    @r.get(f"{API}/health", dependencies=ctx.auth)
    def health() -> dict[str, Any]:
        c = ctx.con(only_runs=True)
        spans = c.execute("SELECT coalesce(sum(spans), 0) FROM span_hours").fetchall()[0][0]
        runs = c.execute("SELECT count(*) FROM runs").fetchall()[0][0] if spans else 0
        source = ctx.settings.receiver
        return {
            "status": "ok",
            "data": ctx.settings.data,
            "spans": spans,
            "runs": runs,
            "auth": ctx.settings.auth_token is not None,
            "receiver": None
            if source is None
            else {
                "otlp_grpc": source.otlp_grpc,
                "otlp_http": source.otlp_http,
                "metrics": f"{source.url.rstrip('/')}/metrics" if source.url else None,
            },
        }

    @r.get(f"{API}/stats", dependencies=ctx.auth)
    def stats(hours: Annotated[int, Query(ge=1, le=24 * 90)] = 48) -> dict[str, Any]:
        c = ctx.con(only_runs=True)
        spans = records(
            c.execute(
                "SELECT hour, spans FROM span_hours WHERE hour >= now() - to_hours(CAST(? AS INTEGER)) ORDER BY 1",
                [hours],
            )
        )
        runs = records(
            c.execute(
                "SELECT date_trunc('hour', CAST(start_time AS TIMESTAMPTZ)) AS hour, count(*) AS runs, "
                "count(*) FILTER (WHERE status = 'ERROR') AS errors FROM runs "
                "WHERE CAST(start_time AS TIMESTAMPTZ) >= now() - to_hours(CAST(? AS INTEGER)) GROUP BY 1 ORDER BY 1",
                [hours],
            )
        )
        last_hour = spans[-1]["spans"] if spans else 0
        metrics = ingest.read(ctx.settings.receiver)["metrics"]
        return {
            "hours": hours,
            "spans_per_hour": spans,
            "runs_per_hour": runs,
            "ingest_spans_per_s": last_hour / 3600,
            "rejected": sum(r["count"] for r in metrics["rejected"]) if metrics else None,
        }

    @r.get(f"{API}/ingest", dependencies=ctx.auth)
    def ingest_state() -> dict[str, Any]:
        """The receiver's own metrics (accepted, written, rejected by reason, WAL backlog, export latency)."""
        return ingest.read(ctx.settings.receiver)

    return r
