"""Stage 3 for logs: OTLP log records -> canonical log rows (GenAI events, late labels) and, for
inference and label events, the ML datasets' rows.

Why apart from the span normalizer: logs share only the base (options, attribute maps, resources)
with spans; their rows, their compiled reader (``native/logscan.c``, through ``ml_rows``) and their
rules (``ml_events``) are their own.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from driftline.collector import ml_events, otlp
from driftline.collector.normalize.attributes import Content, content_role, to_str
from driftline.collector.normalize.ml_rows import new_ml_rows
from driftline.collector.normalize.normalizer import HOUR_NS, TRUNCATED_KEY, BaseNormalizer, NormalizeOptions
from driftline.collector.normalize.values import canonical_json, py_value, sha256
from driftline.collector.schema import LOG_SCHEMA
from driftline.instrumentation.ml.convention import EVENTS as ML_EVENTS

_LOG_INDEX = {name: i for i, name in enumerate(LOG_SCHEMA.names)}


class LogNormalizer(BaseNormalizer):
    """Accumulates canonical log rows (GenAI events, late labels) for one batch."""

    def __init__(self, options: NormalizeOptions) -> None:
        super().__init__(options)
        self.hours: list[int] = []
        self.rejected = 0
        self.ml = new_ml_rows()  # inference and label events go to their own datasets
        self._ml_resources: dict[bytes, tuple[str | None, str | None, str | None]] = {}

    def add_payload(self, payload: bytes, received_ns: int) -> None:
        """One logs request from the WAL (raises ``otlp.MalformedRequest``). Where the compiled reader
        is built, it reads the request's ML events straight from the bytes and names the other records,
        which the Python path below reads; when it is unsure of anything it adds nothing and the whole
        request takes the Python path."""
        scan = getattr(self.ml, "scan", None)
        others = None if scan is None else scan(payload, received_ns, self._ml_resource)
        if others is None:
            self.add_request(otlp.parse("logs", payload), received_ns)
            return
        if others:
            request: Any = otlp.parse("logs", payload)
            for i, j, k in others:
                rl = request.resource_logs[i]
                sl = rl.scope_logs[j]
                svc, ver, env, _raw, rmap = self._resource(rl.resource.attributes)
                self._add_log(sl.log_records[k], svc, ver, env, rmap, sl.scope.name or None, received_ns)

    def _ml_resource(self, raw: bytes) -> tuple[str | None, str | None, str | None]:
        """(service, version, environment) of a Resource message's bytes, for the compiled reader."""
        found = self._ml_resources.get(raw)
        if found is None:
            svc, ver, env, _raw, _rmap = self._resource(Resource.FromString(raw).attributes)
            found = self._ml_resources[raw] = (svc, ver, env)
        return found

    def add_request(self, request: Any, received_ns: int) -> None:
        for rl in request.resource_logs:
            svc, ver, env, _raw, rmap = self._resource(rl.resource.attributes)
            for sl in rl.scope_logs:
                for rec in sl.log_records:
                    tid, sid = rec.trace_id, rec.span_id
                    if otlp.log_ids_problem(tid, sid) is not None:
                        self.rejected += 1
                        continue
                    name = ml_events.event_name(rec)
                    if name in ML_EVENTS:
                        try:
                            event = ml_events.read(rec, name)
                        except ml_events.Refused:  # refused at ack time too (otlp.log_problem_code)
                            self.rejected += 1
                            continue
                        t = rec.time_unix_nano or rec.observed_time_unix_nano or received_ns
                        self.ml.add(event, t, tid.hex() or None, sid.hex() or None, (svc, ver, env), received_ns)
                        continue
                    self._add_log(rec, svc, ver, env, rmap, sl.scope.name or None, received_ns)

    def _add_log(
        self,
        rec: LogRecord,
        svc: str | None,
        ver: str | None,
        env: str | None,
        rmap: list,
        scope_name: str | None,
        received_ns: int,
    ) -> None:
        content = Content()
        rest: list[tuple[str, Any]] = []
        event_name = getattr(rec, "event_name", "") or None
        for kv in rec.attributes:
            role = content_role(kv.key)
            if role:
                content.add(role, kv.key, py_value(kv.value))
            elif kv.key == "event.name" and event_name is None:
                event_name = to_str(py_value(kv.value))
            else:
                rest.append((kv.key, py_value(kv.value)))
        truncated: list[str] = []
        attr_map = self._attr_map(rest, truncated)
        if truncated:
            attr_map.append((TRUNCATED_KEY, canonical_json(truncated)))
        body = py_value(rec.body) if rec.HasField("body") else None
        body_text = None if body is None else (body if isinstance(body, str) else canonical_json(body))
        if content.pieces:  # content-bearing attributes (gen_ai.input.messages...) join the body's hash
            merged = {k: v for parts in content.pieces.values() for k, v in parts}
            if body is not None:
                merged["body"] = body
            body_text = canonical_json(merged)
        t = rec.time_unix_nano or rec.observed_time_unix_nano or received_ns
        row: list[Any] = [None] * len(_LOG_INDEX)
        row[0] = rec.trace_id.hex() or None
        row[1] = rec.span_id.hex() or None
        row[2] = t
        row[3] = rec.observed_time_unix_nano or None
        row[4] = rec.severity_number
        row[5] = rec.severity_text or None
        row[6] = event_name
        if body_text is not None:
            row[7] = sha256(body_text)
            row[8] = len(body_text)
            row[9] = self._stored(body_text)
        row[10], row[11], row[12], row[13] = svc, ver, env, scope_name
        row[14] = attr_map
        row[15] = rmap
        row[16] = received_ns
        self.rows.append(row)
        self.hours.append(t // HOUR_NS)

    def table(self) -> pa.Table:  # type: ignore[override]
        return super().table(LOG_SCHEMA)


assert LOG_SCHEMA.names == [
    "trace_id",
    "span_id",
    "time",
    "observed_time",
    "severity_number",
    "severity_text",
    "event_name",
    "body_hash",
    "body_chars",
    "body",
    "service_name",
    "service_version",
    "environment",
    "scope_name",
    "attributes",
    "resource_attributes",
    "received_at",
]
