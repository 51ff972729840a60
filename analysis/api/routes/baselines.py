"""``/baselines``: the baseline records, and the two writes (promote runs, set a version) that need a token."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from driftline.analysis.api.context import API, Context


class PromoteIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    run_ids: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(min_length=1, max_length=10_000)
    note: str | None = Field(default=None, max_length=2000)
    replace: bool = False


class BaselineIn(BaseModel):
    version: str = Field(min_length=1, max_length=200)
    agent: str | None = None
    env: str | None = None
    note: str | None = Field(default=None, max_length=2000)


def router(ctx: Context) -> APIRouter:
    r = APIRouter()

    @r.get(f"{API}/baselines", dependencies=ctx.auth)
    def baselines() -> dict[str, Any]:
        """Every baseline record (oldest first) and the current named baselines (their run ids left out:
        a diff side ``@name`` uses them)."""
        from driftline.analysis import baselines as store

        return {
            "baselines": [store.summary(r) for r in store.records(ctx.settings.data)],
            "named": [store.summary(r) for r in store.names(ctx.settings.data)],
        }

    @r.post(f"{API}/baselines/named", status_code=201)
    def promote(body: PromoteIn, request: Request) -> dict[str, Any]:
        """Promote runs to the named baseline ``body.name`` (added to it, or all of it with ``replace``)."""
        from driftline.analysis import baselines as store

        ctx.writable(request)
        try:
            store.check_name(body.name)
        except ValueError as exc:
            raise HTTPException(422, detail=[{"loc": ["body", "name"], "msg": str(exc)}]) from exc
        try:
            record = store.promote(
                ctx.settings.data, ctx.con(only_runs=True), body.name, body.run_ids, body.note, body.replace
            )
        except ValueError as exc:
            raise HTTPException(404, detail=str(exc)) from exc
        return store.summary(record)

    @r.post(f"{API}/baselines", status_code=201)
    def set_baseline(body: BaselineIn, request: Request) -> dict[str, Any]:
        from driftline.analysis import baselines as store

        ctx.writable(request)
        try:
            return store.set_baseline(
                ctx.settings.data, ctx.con(only_runs=True), body.version, body.agent, body.env, body.note
            )
        except ValueError as exc:
            raise HTTPException(404, detail=str(exc)) from exc

    return r
