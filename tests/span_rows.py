"""Span rows for the run-view tests: OTLP spans built by hand, normalized and written as the receiver does."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from driftline.collector import otlp
from driftline.collector.normalize.normalizer import NormalizeOptions, SpanNormalizer
from driftline.collector.sink.parquet import ParquetSink
from tests.integration.otlp_payloads import kv

T0 = 1_700_000_000_000_000_000
MS = 1_000_000


def add_span(
    ss,
    trace: str,
    sid: str,
    parent: str | None,
    name: str,
    attrs: dict,
    start_ms: int,
    dur_ms: int,
    error: bool = False,
) -> None:
    span = ss.spans.add()
    span.trace_id, span.span_id = bytes.fromhex(trace), bytes.fromhex(sid)
    if parent:
        span.parent_span_id = bytes.fromhex(parent)
    span.name = name
    span.start_time_unix_nano, span.end_time_unix_nano = T0 + start_ms * MS, T0 + (start_ms + dur_ms) * MS
    span.attributes.extend(kv(k, v) for k, v in attrs.items())
    if error:
        span.status.code = 2


def store(root: Path | str, req: ExportTraceServiceRequest, stem: str = "rx-000000000001") -> None:
    """Normalize ``req`` and write it under ``root`` (one file per hour partition)."""
    norm = SpanNormalizer(NormalizeOptions())
    norm.add_request(otlp.parse("traces", req.SerializeToString()), 1)
    ParquetSink(str(root)).write("spans", norm.table(), norm.hours, stem)
