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


def agent_runs(
    root: Path | str,
    version: str,
    n: int,
    *,
    agent: str = "support",
    tools: tuple[str, ...] = ("search",),
    start_ms: int = 0,
    seed: int = 0,
    stem: str | None = None,
    output_tokens: int = 20,
) -> list[str]:
    """Store ``n`` runs of ``agent`` at ``version`` (an ``invoke_agent`` span, a chat call, one
    ``execute_tool`` per tool), a second apart from ``start_ms``; returns their trace ids."""
    import random

    rng = random.Random(f"{version}-{seed}")
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    traces = []
    for i in range(n):
        trace = f"{rng.getrandbits(128):032x}"
        root_id, chat_id = f"{rng.getrandbits(64):016x}", f"{rng.getrandbits(64):016x}"
        t = start_ms + i * 1000
        agent_attrs = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": agent,
            "gen_ai.agent.version": version,
        }
        add_span(ss, trace, root_id, None, f"invoke_agent {agent}", agent_attrs, t, 400 + rng.randint(0, 200))
        chat = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 100 + rng.randint(0, 20),
            "gen_ai.usage.output_tokens": output_tokens + rng.randint(0, 5),
        }
        add_span(ss, trace, chat_id, root_id, "chat gpt-4o-mini", chat, t + 10, 100)
        for j, tool in enumerate(tools):
            attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool}
            add_span(
                ss, trace, f"{rng.getrandbits(64):016x}", root_id, f"execute_tool {tool}", attrs, t + 120 + j * 50, 40
            )
        traces.append(trace)
    store(root, req, stem or f"rx-{version.replace('.', '')}-{seed:04d}")
    return traces
