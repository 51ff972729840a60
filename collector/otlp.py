"""OTLP request parsing and validity rules, shared by the receiver and the normalizer.

Why shared: the receiver counts refused spans for ``partial_success`` at ack time and the normalizer
drops the same spans behind the WAL. Both must apply one rule, or an acknowledged count would not
match what lands in Parquet.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from driftline.collector import ml_events

Signal = Literal["traces", "logs"]
SIGNALS: tuple[Signal, ...] = ("traces", "logs")
SIGNAL_CODES: dict[Signal, int] = {"traces": 1, "logs": 2}
SIGNAL_BY_CODE: dict[int, Signal] = {v: k for k, v in SIGNAL_CODES.items()}

REQUEST_TYPES = {"traces": ExportTraceServiceRequest, "logs": ExportLogsServiceRequest}
RESPONSE_TYPES = {"traces": ExportTraceServiceResponse, "logs": ExportLogsServiceResponse}

_ZERO16 = bytes(16)
_ZERO8 = bytes(8)


class MalformedRequest(ValueError):
    """The request body is not a valid OTLP message (never retryable)."""


def parse(signal: Signal, payload: bytes) -> ExportTraceServiceRequest | ExportLogsServiceRequest:
    try:
        return REQUEST_TYPES[signal].FromString(payload)
    except (DecodeError, RuntimeError, ValueError) as exc:  # upb raises DecodeError; deep nesting too
        raise MalformedRequest(f"not a valid OTLP {signal} protobuf message: {exc}") from exc


def span_problem(span: Span) -> str | None:
    """Why a span cannot be stored, or None when it can (OTLP requires 16/8-byte non-zero ids)."""
    return ids_problem(span.trace_id, span.span_id, span.parent_span_id, span.start_time_unix_nano)


def ids_problem(tid: bytes, sid: bytes, pid: bytes, start_ns: int) -> str | None:
    """``span_problem`` for fields already read (the normalizer reads each once)."""
    if len(tid) != 16 or tid == _ZERO16:
        return "invalid trace_id (must be 16 non-zero bytes)"
    if len(sid) != 8 or sid == _ZERO8:
        return "invalid span_id (must be 8 non-zero bytes)"
    if pid and len(pid) != 8:
        return "invalid parent_span_id (must be empty or 8 bytes)"
    if not start_ns:
        return "missing start_time_unix_nano"
    return None


def log_ids_problem(tid: bytes, sid: bytes) -> str | None:
    """Logs may omit ids (they are optional), but ids that are present must be well-formed."""
    if tid and len(tid) != 16:
        return "invalid trace_id (must be empty or 16 bytes)"
    if sid and len(sid) != 8:
        return "invalid span_id (must be empty or 8 bytes)"
    return None


def log_problem_code(record: LogRecord) -> tuple[str, str] | None:
    """(reason code, message) or None: the ids rule, then an inference or label event's convention
    (``ml_events``)."""
    problem = log_ids_problem(record.trace_id, record.span_id)
    if problem is not None:
        return "invalid_item", problem
    return ml_events.problem(record)


def iter_items(signal: Signal, request: ExportTraceServiceRequest | ExportLogsServiceRequest) -> Iterator:
    """Every span (or log record) of a request, in order."""
    if signal == "traces":
        for rs in request.resource_spans:  # type: ignore[union-attr]
            for ss in rs.scope_spans:
                yield from ss.spans
    else:
        for rl in request.resource_logs:  # type: ignore[union-attr]
            for sl in rl.scope_logs:
                yield from sl.log_records


def _span_problem_code(span: Span) -> tuple[str, str] | None:
    problem = span_problem(span)
    return None if problem is None else ("invalid_item", problem)


def count_and_check(
    signal: Signal, request: ExportTraceServiceRequest | ExportLogsServiceRequest
) -> tuple[int, dict[str, int], str]:
    """(items, rejected items per reason code, first rejection message) for one request."""
    check = _span_problem_code if signal == "traces" else log_problem_code
    total = 0
    rejected: dict[str, int] = {}
    reason = ""
    for item in iter_items(signal, request):
        total += 1
        problem = check(item)
        if problem is not None:
            rejected[problem[0]] = rejected.get(problem[0], 0) + 1
            if not reason:
                reason = problem[1]
    return total, rejected, reason


def response(signal: Signal, rejected: int, message: str) -> ExportTraceServiceResponse | ExportLogsServiceResponse:
    """An Export response; ``partial_success`` is set only when something was refused (OTLP spec)."""
    resp = RESPONSE_TYPES[signal]()
    if rejected:
        if signal == "traces":
            resp.partial_success.rejected_spans = rejected  # type: ignore[union-attr]
        else:
            resp.partial_success.rejected_log_records = rejected  # type: ignore[union-attr]
        resp.partial_success.error_message = message
    return resp
