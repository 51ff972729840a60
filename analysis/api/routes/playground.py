"""``/playground``: whether the playground can send, and sending a prompt that lands as a run."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from driftline.analysis.api.context import API, Context
from driftline.analysis.playground import MAX_PROMPT


class PlaygroundIn(BaseModel):
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT)
    version: str = Field(min_length=1, max_length=200)
    agent: str = Field(default="playground", min_length=1, max_length=200)
    system: str | None = Field(default=None, max_length=MAX_PROMPT)
    model: str | None = Field(default=None, min_length=1, max_length=200)


def router(ctx: Context) -> APIRouter:
    r = APIRouter()

    @r.get(f"{API}/playground", dependencies=ctx.auth)
    def playground_state() -> dict[str, Any]:
        """Whether the playground can send (an endpoint and somewhere for its runs to land), and where."""
        from driftline.analysis.llm_endpoint import target

        pg = ctx.settings.playground
        endpoint, protocol = ctx.settings.playground_target()
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
            "writes": ctx.settings.auth_token is not None,
        }

    @r.post(f"{API}/playground", status_code=201)
    def playground_send(body: PlaygroundIn, request: Request) -> dict[str, Any]:
        """Send a prompt as ``agent`` ``version`` through the configured endpoint; the call lands as a run
        (environment ``playground``) once the receiver acknowledged it. 502 when the endpoint failed (the
        failed call is a run too), 503 when the receiver did not take the run."""
        from dataclasses import asdict

        from driftline.analysis.playground import send

        ctx.writable(request)
        endpoint, protocol = ctx.settings.playground_target()
        try:
            run = send(
                ctx.settings.playground,
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

    return r
