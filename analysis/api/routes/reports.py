"""``/diff`` (the document of ``driftline diff --format json``) and ``/history`` (scheduled reports)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from driftline.analysis.api.context import API, Context


def router(ctx: Context) -> APIRouter:
    r = APIRouter()

    @r.get(f"{API}/diff", dependencies=ctx.auth)
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
                ctx.con(only_runs=by is None or by in SEGMENT_COLUMNS),
                SideSpec(baseline, agent=agent, env=env),
                SideSpec(candidate, agent=agent, env=env),
                settings=StatSettings(),
                prices=load_prices(ctx.settings.pricing),
                data_root=ctx.settings.data,
                by=by,
                semantic=ctx.settings.semantic,
            )
        except SelectionError as exc:
            raise HTTPException(404, detail=str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(422, detail=[{"loc": ["query", "by"], "msg": str(exc)}]) from exc
        if explain:
            report.explanation = explain_report(report, ctx.settings.rca)
        return document(report)

    @r.get(f"{API}/history", dependencies=ctx.auth)
    def history(report: str | None = None) -> dict[str, Any]:
        from driftline.analysis.schedule import history as store

        try:
            return {"history": store.read(ctx.settings.data, report)}
        except ValueError as exc:
            raise HTTPException(422, detail=[{"loc": ["query", "report"], "msg": str(exc)}]) from exc

    return r
