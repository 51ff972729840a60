"""The REST query API (``/api/v1``): runs, a run's span tree, versions, diff, history, cost, baselines.

Why a thin layer: every number comes from the analysis layer the CLI uses — ``diff`` returns exactly
the document of ``driftline diff --format json`` — so the console and scripts never disagree with the
terminal. A DuckDB connection is opened per request (connections are not shared across threads); the
run cache makes that cheap.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from driftline.analysis.api import ingest
from driftline.analysis.api.console import mount_console
from driftline.analysis.api.ingest import ReceiverSource
from driftline.analysis.api.snapshot import RunsSnapshot
from driftline.analysis.playground import MAX_PROMPT
from driftline.analysis.slow_runs import SLOW_DEFINITION, p95_by_version_sql

API = "/api/v1"
Since = Annotated[str | None, Query(max_length=64, description="a duration ago (7d, 12h) or an ISO time")]
MAX_PAGE = 500
# sort key -> (column, cursor expression, type the cursor value is read back as). Sorting on the plain
# column lets DuckDB fetch the other columns of the top rows only; runs without a cost sort as -1
# (last when descending), which the cursor expression states and NULLS LAST/FIRST reproduces.
SORTS = {
    "start_time": ("start_time", "start_time", "TIMESTAMPTZ"),
    "duration_ms": ("duration_ms", "duration_ms", "DOUBLE"),
    "cost": ("cost", "coalesce(cost, -1.0)", "DOUBLE"),
}


class Settings:
    def __init__(
        self,
        data: str,
        pricing: str | None = None,
        auth_token: str | None = None,
        receiver: ReceiverSource | None = None,
        doc: dict[str, Any] | None = None,
    ) -> None:
        """``doc``: the driftline.toml in effect; its [semantic] and [rca] tables are validated here, so a
        mistake stops the server at start, not the first report."""
        from driftline.analysis.explain.config import config_from as rca_config
        from driftline.analysis.playground import config_from as playground_config
        from driftline.collector.embed.model import config_from as semantic_config

        self.data, self.pricing, self.auth_token, self.receiver = data, pricing, auth_token, receiver
        self.semantic = semantic_config((doc or {}).get("semantic"))
        self.rca = rca_config((doc or {}).get("rca"))
        self.playground = playground_config(doc)

    def playground_target(self) -> tuple[str | None, str | None]:
        """(OTLP endpoint, protocol) the playground's runs go to: [playground] otlp_endpoint, else the
        console's own receiver (HTTP, else gRPC), else (None, None) for the OTEL_EXPORTER_OTLP_* variables."""
        if self.playground.otlp_endpoint:
            return self.playground.otlp_endpoint, None
        if self.receiver is not None and self.receiver.otlp_http:
            return self.receiver.otlp_http, "http/protobuf"
        if self.receiver is not None and self.receiver.otlp_grpc:
            return self.receiver.otlp_grpc, "grpc"
        return None, None


class PromoteIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    run_ids: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(min_length=1, max_length=10_000)
    note: str | None = Field(default=None, max_length=2000)
    replace: bool = False


class PlaygroundIn(BaseModel):
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT)
    version: str = Field(min_length=1, max_length=200)
    agent: str = Field(default="playground", min_length=1, max_length=200)
    system: str | None = Field(default=None, max_length=MAX_PROMPT)
    model: str | None = Field(default=None, min_length=1, max_length=200)


class BaselineIn(BaseModel):
    version: str = Field(min_length=1, max_length=200)
    agent: str | None = None
    env: str | None = None
    note: str | None = Field(default=None, max_length=2000)


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


def _rows(cursor: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [_json(dict(zip(names, r, strict=True))) for r in cursor.fetchall()]


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


def _warm(snapshot: RunsSnapshot) -> None:
    try:
        import driftline.analysis.diff.build  # noqa: F401  (scipy, numpy, the report model)

        snapshot.cursor()
    except Exception:  # the request that needs it will raise it properly
        logging.getLogger("driftline.api").exception("warming up the API failed")


def create_app(settings: Settings, cors_origins: list[str] | None = None) -> FastAPI:
    snapshot = RunsSnapshot(settings.data, settings.pricing)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # build the runs snapshot and import the statistics stack while the server starts listening,
        # so the first page and the first diff do not pay for them
        threading.Thread(target=_warm, args=(snapshot,), name="driftline-warm-up", daemon=True).start()
        yield

    app = FastAPI(
        title="Driftline",
        version="1",
        description="Runs, versions, drift and cost over a Driftline data root.",
        lifespan=lifespan,
    )
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )

    def authorized(request: Request) -> None:
        if settings.auth_token is None:
            return
        given = request.headers.get("authorization", "")
        if not secrets.compare_digest(given, f"Bearer {settings.auth_token}"):
            raise HTTPException(401, detail="missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    def con(only_runs: bool = False) -> Any:
        """Runs only: a cursor on the in-memory snapshot; anything reading spans: the analysis connection,
        with the run cache as the background refresh left it (a request never derives runs)."""
        if only_runs:
            return snapshot.cursor()
        from driftline.analysis.db import connect

        return connect(settings.data, pricing=settings.pricing, cached_runs=True, refresh_cache=False)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    auth = [Depends(authorized)]

    @app.get(f"{API}/health", dependencies=auth)
    def health() -> dict[str, Any]:
        c = con(only_runs=True)
        spans = c.execute("SELECT coalesce(sum(spans), 0) FROM span_hours").fetchall()[0][0]
        runs = c.execute("SELECT count(*) FROM runs").fetchall()[0][0] if spans else 0
        source = settings.receiver
        return {
            "status": "ok",
            "data": settings.data,
            "spans": spans,
            "runs": runs,
            "auth": settings.auth_token is not None,
            "receiver": None
            if source is None
            else {
                "otlp_grpc": source.otlp_grpc,
                "otlp_http": source.otlp_http,
                "metrics": f"{source.url.rstrip('/')}/metrics" if source.url else None,
            },
        }

    @app.get(f"{API}/stats", dependencies=auth)
    def stats(hours: Annotated[int, Query(ge=1, le=24 * 90)] = 48) -> dict[str, Any]:
        c = con(only_runs=True)
        spans = _rows(
            c.execute(
                "SELECT hour, spans FROM span_hours WHERE hour >= now() - to_hours(CAST(? AS INTEGER)) ORDER BY 1",
                [hours],
            )
        )
        runs = _rows(
            c.execute(
                "SELECT date_trunc('hour', CAST(start_time AS TIMESTAMPTZ)) AS hour, count(*) AS runs, "
                "count(*) FILTER (WHERE status = 'ERROR') AS errors FROM runs "
                "WHERE CAST(start_time AS TIMESTAMPTZ) >= now() - to_hours(CAST(? AS INTEGER)) GROUP BY 1 ORDER BY 1",
                [hours],
            )
        )
        last_hour = spans[-1]["spans"] if spans else 0
        metrics = ingest.read(settings.receiver)["metrics"]
        return {
            "hours": hours,
            "spans_per_hour": spans,
            "runs_per_hour": runs,
            "ingest_spans_per_s": last_hour / 3600,
            "rejected": sum(r["count"] for r in metrics["rejected"]) if metrics else None,
        }

    @app.get(f"{API}/ingest", dependencies=auth)
    def ingest_state() -> dict[str, Any]:
        """The receiver's own metrics (accepted, written, rejected by reason, WAL backlog, export latency)."""
        return ingest.read(settings.receiver)

    @app.get(f"{API}/runs", dependencies=auth)
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
        rows = _rows(
            con(only_runs=True).execute(
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

    @app.get(f"{API}/runs/{{run_id}}", dependencies=auth)
    def run(run_id: str) -> dict[str, Any]:
        found = _rows(con(only_runs=True).execute("SELECT * EXCLUDE (step_ms) FROM runs WHERE run_id = ?", [run_id]))
        if not found:
            raise HTTPException(404, detail=f"no run {run_id!r}")
        summary = found[0]
        from driftline.analysis.db import connect_hours

        # the run's own hours (an hour of margin each side for spans of the trace outside the run)
        start = datetime.fromisoformat(summary["start_time"])
        end = start + timedelta(milliseconds=summary["duration_ms"] or 0)
        spans_con = connect_hours(
            settings.data, start - timedelta(hours=1), end + timedelta(hours=1), pricing=settings.pricing
        )
        spans = _rows(
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

    @app.get(f"{API}/versions", dependencies=auth)
    def versions(agent: str | None = None, env: str | None = None) -> dict[str, Any]:
        """Versions in order of first appearance, with headline metrics (error rate, latency, tokens, cost)."""
        from driftline.analysis.diff.sides import ANY, SideSpec, run_filters
        from driftline.analysis.diff.sides import versions as list_versions

        c = con(only_runs=True)
        listed = list_versions(c, agent, env)
        where, params = run_filters(SideSpec(ANY, agent=agent, env=env), None)
        metrics = {
            r["version"]: r
            for r in _rows(
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
        return {"versions": _json(listed)}

    @app.get(f"{API}/diff", dependencies=auth)
    def diff(
        baseline: Annotated[str, Query(min_length=1)],
        candidate: Annotated[str, Query(min_length=1)],
        agent: str | None = None,
        env: str | None = None,
        by: str | None = None,
        explain: bool = False,
    ) -> dict[str, Any]:
        """The drift report (``driftline diff --format json``); ``explain=true`` adds the explanation of
        the [rca] LLM, or of the rules when it cannot answer (the reason is in the document)."""
        from driftline.analysis.cost import load_prices
        from driftline.analysis.diff.build import SEGMENT_COLUMNS, build_report
        from driftline.analysis.diff.engine import StatSettings
        from driftline.analysis.diff.sides import SelectionError, SideSpec
        from driftline.analysis.explain.llm import explain as explain_report
        from driftline.analysis.report.json_render import document

        try:
            report = build_report(
                con(only_runs=by is None or by in SEGMENT_COLUMNS),
                SideSpec(baseline, agent=agent, env=env),
                SideSpec(candidate, agent=agent, env=env),
                settings=StatSettings(),
                prices=load_prices(settings.pricing),
                data_root=settings.data,
                by=by,
                semantic=settings.semantic,
            )
        except SelectionError as exc:
            raise HTTPException(404, detail=str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(422, detail=[{"loc": ["query", "by"], "msg": str(exc)}]) from exc
        if explain:
            report.explanation = explain_report(report, settings.rca)
        return document(report)

    @app.get(f"{API}/history", dependencies=auth)
    def history(report: str | None = None) -> dict[str, Any]:
        from driftline.analysis.schedule import history as store

        try:
            return {"history": store.read(settings.data, report)}
        except ValueError as exc:
            raise HTTPException(422, detail=[{"loc": ["query", "report"], "msg": str(exc)}]) from exc

    def priced_calls(by: str, since: str | None, agent: str | None, env: str | None) -> tuple[Any, float, list[str]]:
        """A connection holding ``_costed``/``_report`` (as ``driftline cost``), the total and unpriced models."""
        from driftline.analysis.cost import grouped_costs
        from driftline.analysis.diff.sides import SelectionError, parse_time

        try:
            start = parse_time(since)
        except SelectionError as exc:
            raise HTTPException(422, detail=[{"loc": ["query", "since"], "msg": str(exc)}]) from exc
        c = con(only_runs=True)
        clauses, params = (["CAST(c.start_time AS TIMESTAMPTZ) >= ?"], [start]) if start else (["true"], [])
        total, unpriced = grouped_costs(c, by, clauses, params, agent, env, source="costed_calls")
        return c, total, unpriced

    @app.get(f"{API}/cost", dependencies=auth)
    def cost(
        by: Literal["model", "version", "day", "agent"] = "model",
        since: Since = None,
        agent: str | None = None,
        env: str | None = None,
    ) -> dict[str, Any]:
        c, total, unpriced = priced_calls(by, since, agent, env)
        return {
            "by": by,
            "rows": _rows(c.execute("SELECT * FROM _report")),
            "total": total,
            "unpriced_models": unpriced,
        }

    @app.get(f"{API}/cost/series", dependencies=auth)
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
        points = _rows(
            c.execute(
                f"""SELECT date_trunc('{bucket}', CAST(start_time AS TIMESTAMPTZ)) AS t, {COST_GROUPS[by]} AS key,
                       round(sum(cost * weight), 6) AS cost, CAST(round(sum(weight)) AS BIGINT) AS calls
                FROM _costed GROUP BY ALL ORDER BY t, key"""
            )
        )
        return {"by": by, "bucket": bucket, "points": points, "total": total, "unpriced_models": unpriced}

    @app.get(f"{API}/baselines", dependencies=auth)
    def baselines() -> dict[str, Any]:
        """Every baseline record (oldest first) and the current named baselines (their run ids left out:
        a diff side ``@name`` uses them)."""
        from driftline.analysis import baselines as store

        return {
            "baselines": [store.summary(r) for r in store.records(settings.data)],
            "named": [store.summary(r) for r in store.names(settings.data)],
        }

    def writable(request: Request) -> None:
        if settings.auth_token is None:
            raise HTTPException(403, detail="writes need a bearer token: start the API with --auth-token")
        authorized(request)

    @app.post(f"{API}/baselines/named", status_code=201)
    def promote(body: PromoteIn, request: Request) -> dict[str, Any]:
        """Promote runs to the named baseline ``body.name`` (added to it, or all of it with ``replace``)."""
        from driftline.analysis import baselines as store

        writable(request)
        try:
            store.check_name(body.name)
        except ValueError as exc:
            raise HTTPException(422, detail=[{"loc": ["body", "name"], "msg": str(exc)}]) from exc
        try:
            record = store.promote(settings.data, con(only_runs=True), body.name, body.run_ids, body.note, body.replace)
        except ValueError as exc:
            raise HTTPException(404, detail=str(exc)) from exc
        return store.summary(record)

    @app.get(f"{API}/playground", dependencies=auth)
    def playground_state() -> dict[str, Any]:
        """Whether the playground can send (an endpoint and somewhere for its runs to land), and where."""
        from driftline.analysis.llm_endpoint import target

        pg = settings.playground
        endpoint, protocol = settings.playground_target()
        otlp = target(endpoint, protocol)
        reason = None
        if not pg.configured:
            reason = "no endpoint configured: set endpoint and model in [playground] (or [rca]) of driftline.toml"
        elif otlp is None:
            reason = (
                "nowhere for the runs to land: run the console in the receiver (driftline serve --ui-port), "
                "give driftline ui --receiver, or set [playground] otlp_endpoint"
            )
        return {
            "configured": reason is None,
            "reason": reason,
            "endpoint": pg.endpoint,
            "model": pg.model,
            "system": pg.system,
            "otlp": {"endpoint": otlp[0], "protocol": otlp[1]} if otlp else None,
            "writes": settings.auth_token is not None,
        }

    @app.post(f"{API}/playground", status_code=201)
    def playground_send(body: PlaygroundIn, request: Request) -> dict[str, Any]:
        """Send a prompt as ``agent`` ``version`` through the configured endpoint; the call lands as a run
        (environment ``playground``) once the receiver acknowledged it. 502 when the endpoint failed (the
        failed call is a run too), 503 when the receiver did not take the run."""
        from dataclasses import asdict

        from driftline.analysis.playground import send

        writable(request)
        endpoint, protocol = settings.playground_target()
        try:
            run = send(
                settings.playground,
                body.prompt,
                agent=body.agent,
                version=body.version,
                otlp_endpoint=endpoint,
                protocol=protocol,
                system=body.system,
                model=body.model,
            )
        except ValueError as exc:
            raise HTTPException(409, detail=str(exc)) from exc
        except OSError as exc:
            raise HTTPException(503, detail=f"{exc}; the run is not recorded") from exc
        if run.error is not None:
            raise HTTPException(502, detail=f"{run.error} (the failed call is recorded as run {run.run_id})")
        return asdict(run)

    @app.post(f"{API}/baselines", status_code=201)
    def set_baseline(body: BaselineIn, request: Request) -> dict[str, Any]:
        from driftline.analysis import baselines as store

        writable(request)
        try:
            return store.set_baseline(settings.data, con(only_runs=True), body.version, body.agent, body.env, body.note)
        except ValueError as exc:
            raise HTTPException(404, detail=str(exc)) from exc

    def ml_con(tz: str = "UTC") -> Any:
        from driftline.analysis.db import check_tz, connect_ml

        try:
            check_tz(tz)
        except ValueError as exc:
            raise HTTPException(422, detail=[{"loc": ["query", "tz"], "msg": str(exc)}]) from exc
        return connect_ml(settings.data, tz)

    @app.get(f"{API}/models", dependencies=auth)
    def models() -> dict[str, Any]:
        """Classical models: versions, counts, time ranges and label coverage (``driftline models``)."""
        from driftline.analysis.ml import queries

        return {"models": _json(queries.models(ml_con()))}

    @app.get(f"{API}/models/{{model}}", dependencies=auth)
    def model_profile(
        model: str,
        version: Annotated[str | None, Query(max_length=200)] = None,
        days: Annotated[int, Query(ge=1, le=366)] = 14,
        tz: Annotated[str, Query(max_length=64)] = "UTC",
    ) -> dict[str, Any]:
        """A model's features (type, missing rate, range) and daily rollups (``driftline models show``)."""
        from driftline.analysis.ml import queries

        c = ml_con(tz)
        total, features = queries.profile(c, model, version)
        if not total:
            raise HTTPException(404, detail=f"no inferences of model {model!r}")
        return _json(
            {
                "model": model,
                "version": version,
                "inferences": total,
                "timezone": tz,
                "features": [f.__dict__ for f in features],
                "daily": queries.rollups(c, model, days),
            }
        )

    @app.get(f"{API}/models/{{model}}/cards", dependencies=auth)
    def model_cards(
        model: str,
        version: Annotated[str, Query(min_length=1, max_length=200)],
        range_: Annotated[str, Query(alias="range", max_length=8)] = "2h",
        feature: Annotated[str | None, Query(max_length=300)] = None,
        colour: Annotated[str | None, Query(max_length=300)] = None,
    ) -> dict[str, Any]:
        """Every card of the Models page for one version over a time range (15m, 1h, 2h, 6h, 24h, 7d, 30d)."""
        from driftline.analysis.ml import queries

        try:
            start = queries.range_start(range_, datetime.now().astimezone())
        except ValueError as exc:
            raise HTTPException(422, detail=[{"loc": ["query", "range"], "msg": str(exc)}]) from exc
        try:
            return _json({"range": range_, **queries.cards(ml_con(), model, version, start, feature, colour)})
        except ValueError as exc:
            raise HTTPException(404, detail=str(exc)) from exc

    @app.get(f"{API}/models/{{model}}/diff", dependencies=auth)
    def model_diff(
        model: str,
        baseline: Annotated[str, Query(min_length=1, max_length=200)],
        candidate: Annotated[str, Query(min_length=1, max_length=200)],
        chunk: Annotated[str, Query(pattern=r"^(hour|day|week|[1-9][0-9]{0,8})$")] = "day",
        label_coverage: Annotated[float, Query(ge=0, le=1)] = 0.8,
        positive: Annotated[str | None, Query(max_length=200)] = None,
        by: Annotated[str | None, Query(max_length=200)] = None,
        explain: bool = False,
    ) -> dict[str, Any]:
        """The model drift report of ``driftline diff --model MODEL BASELINE CANDIDATE`` (features,
        prediction, multivariate signal, performance per window against labels, estimates);
        ``explain=true`` adds the explanation, as for agents."""
        from driftline.analysis.diff.engine import StatSettings
        from driftline.analysis.diff.sides import SelectionError, SideSpec
        from driftline.analysis.explain.llm import explain as explain_report
        from driftline.analysis.ml.drift import PerformanceOptions, build_model_report
        from driftline.analysis.report.json_render import document

        try:
            report = build_model_report(
                ml_con(),
                model,
                SideSpec(baseline),
                SideSpec(candidate),
                settings=StatSettings(),
                data_root=settings.data,
                by=by,
                performance=PerformanceOptions(chunk, label_coverage, positive),
            )
        except SelectionError as exc:
            raise HTTPException(404, detail=str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(422, detail=[{"loc": ["query"], "msg": str(exc)}]) from exc
        if explain:
            report.explanation = explain_report(report, settings.rca)
        return document(report)

    mount_console(app)
    return app
