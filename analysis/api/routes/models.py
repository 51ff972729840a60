"""``/models``: classical models, a model's profile, the Models page's cards and the model drift report."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from driftline.analysis.api.context import API, Context, as_json


def router(ctx: Context) -> APIRouter:
    r = APIRouter()

    @r.get(f"{API}/models", dependencies=ctx.auth)
    def models() -> dict[str, Any]:
        """Classical models: versions, counts, time ranges and label coverage (``driftline models``)."""
        from driftline.analysis.ml import queries

        return {"models": as_json(queries.models(ctx.ml()))}

    @r.get(f"{API}/models/{{model}}", dependencies=ctx.auth)
    def model_profile(
        model: str,
        version: Annotated[str | None, Query(max_length=200)] = None,
        days: Annotated[int, Query(ge=1, le=366)] = 14,
        tz: Annotated[str, Query(max_length=64)] = "UTC",
    ) -> dict[str, Any]:
        """A model's features (type, missing rate, range) and daily rollups (``driftline models show``)."""
        from driftline.analysis.ml import queries

        c = ctx.ml(tz)
        total, features = queries.profile(c, model, version)
        if not total:
            raise HTTPException(404, detail=f"no inferences of model {model!r}")
        return as_json(
            {
                "model": model,
                "version": version,
                "inferences": total,
                "timezone": tz,
                "features": [f.__dict__ for f in features],
                "daily": queries.rollups(c, model, days),
            }
        )

    @r.get(f"{API}/models/{{model}}/cards", dependencies=ctx.auth)
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
            return as_json({"range": range_, **queries.cards(ctx.ml(), model, version, start, feature, colour)})
        except ValueError as exc:
            raise HTTPException(404, detail=str(exc)) from exc

    @r.get(f"{API}/models/{{model}}/diff", dependencies=ctx.auth)
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
                ctx.ml(),
                model,
                SideSpec(baseline),
                SideSpec(candidate),
                settings=StatSettings(),
                data_root=ctx.settings.data,
                by=by,
                performance=PerformanceOptions(chunk, label_coverage, positive),
            )
        except SelectionError as exc:
            raise HTTPException(404, detail=str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(422, detail=[{"loc": ["query"], "msg": str(exc)}]) from exc
        if explain:
            report.explanation = explain_report(report, ctx.settings.rca)
        return document(report)

    return r
