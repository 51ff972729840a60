"""What every router of the API shares: its settings, the runs snapshot (the one background refresher),
the connections a request reads through, the bearer-token checks, and JSON for DuckDB rows.

Why one object: each router (``routes/*.py``) gets this context, so how a request is authorized or
which connection it reads is decided in one place, whichever resource it asks for.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Any

from fastapi import Depends, HTTPException, Request

from driftline.analysis.api.ingest import ReceiverSource
from driftline.analysis.api.snapshot import RunsSnapshot

API = "/api/v1"


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


def as_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


def records(cursor: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [as_json(dict(zip(names, r, strict=True))) for r in cursor.fetchall()]


class Context:
    """The settings, the snapshot and the checks, for the routers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.snapshot = RunsSnapshot(settings.data, settings.pricing)
        self.auth = [Depends(self.authorized)]

    def authorized(self, request: Request) -> None:
        if self.settings.auth_token is None:
            return
        given = request.headers.get("authorization", "")
        if not secrets.compare_digest(given, f"Bearer {self.settings.auth_token}"):
            raise HTTPException(401, detail="missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    def writable(self, request: Request) -> None:
        """Writes need a token even where reads do not (a console opened to a team)."""
        if self.settings.auth_token is None:
            raise HTTPException(403, detail="writes need a bearer token: start the API with --auth-token")
        self.authorized(request)

    def con(self, only_runs: bool = False) -> Any:
        """Runs only: a cursor on the in-memory snapshot; anything reading spans: the analysis connection,
        with the run cache as the background refresh left it (a request never derives runs)."""
        if only_runs:
            return self.snapshot.cursor()
        from driftline.analysis.db import connect

        return connect(self.settings.data, pricing=self.settings.pricing, cached_runs=True, refresh_cache=False)

    def ml(self, tz: str = "UTC") -> Any:
        """The ML views, their days counted in ``tz`` (422 for a zone that does not exist)."""
        from driftline.analysis.db import connect_ml
        from driftline.analysis.views import check_tz

        try:
            check_tz(tz)
        except ValueError as exc:
            raise HTTPException(422, detail=[{"loc": ["query", "tz"], "msg": str(exc)}]) from exc
        return connect_ml(self.settings.data, tz)

    def warm(self) -> None:
        """The snapshot's first build and the statistics stack's imports, while the server starts
        listening: the first page and the first diff do not pay for them."""
        try:
            import driftline.analysis.diff.build  # noqa: F401  (scipy, numpy, the report model)

            self.snapshot.cursor()
        except Exception:  # the request that needs it will raise it properly
            logging.getLogger("driftline.api").exception("warming up the API failed")
