"""Hand-built OTLP requests for protocol tests (exporters cannot send malformed or partial data)."""

from __future__ import annotations

import os
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

TRACE_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def kv(key: str, value: object) -> KeyValue:
    v = AnyValue()
    if isinstance(value, str):
        v.string_value = value
    elif isinstance(value, bool):
        v.bool_value = value
    elif isinstance(value, int):
        v.int_value = value
    elif isinstance(value, list):
        v.array_value.values.extend(AnyValue(string_value=str(x)) for x in value)
    else:
        v.double_value = float(value)  # type: ignore[arg-type]
    return KeyValue(key=key, value=v)


def trace_request(
    n: int = 3, bad: int = 0, service: str = "svc", attrs: dict | None = None
) -> tuple[ExportTraceServiceRequest, list[str]]:
    """``n`` valid chat spans (+ ``bad`` spans with an all-zero trace id); returns the request and valid span ids."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", service))
    ss = rs.scope_spans.add()
    ids = []
    now = time.time_ns()
    trace_id = os.urandom(16)
    for i in range(n + bad):
        span = ss.spans.add()
        span.trace_id = trace_id if i < n else bytes(16)
        span.span_id = os.urandom(8)
        span.name = "chat m"
        span.start_time_unix_nano = now
        span.end_time_unix_nano = now + 1_000_000
        span.attributes.extend(
            [kv("gen_ai.operation.name", "chat"), kv("gen_ai.request.model", "m"), kv("gen_ai.usage.input_tokens", 5)]
        )
        for k, v in (attrs or {}).items():
            span.attributes.append(kv(k, v))
        if i < n:
            ids.append(span.span_id.hex())
    return req, ids
