"""The REST query API (``/api/v1``): runs, a run's span tree, versions, diff, history, cost, baselines,
the playground and classical models — one router per resource under ``routes/``.

Why a thin layer: every number comes from the analysis layer the CLI uses — ``diff`` returns exactly
the document of ``driftline diff --format json`` — so the console and scripts never disagree with the
terminal. Runs are served from an in-memory snapshot refreshed in the background (``snapshot.py``);
anything reading spans opens a DuckDB connection per request (connections are not shared across
threads), which the run cache makes cheap.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from driftline.analysis.api.console import mount_console
from driftline.analysis.api.context import API, Context, Settings
from driftline.analysis.api.routes import baselines, cost, models, playground, reports, runs, status

__all__ = ["API", "Settings", "create_app"]
ROUTERS = (status, runs, reports, cost, baselines, playground, models)


def create_app(settings: Settings, cors_origins: list[str] | None = None) -> FastAPI:
    ctx = Context(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=ctx.warm, name="driftline-warm-up", daemon=True).start()
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

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    for module in ROUTERS:
        app.include_router(module.router(ctx))
    mount_console(app)
    return app
