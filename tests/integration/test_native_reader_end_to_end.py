"""Both readers of OTLP logs, end to end in real receiver processes: the compiled one (default where it
is built) and the Python one (``DRIFTLINE_NATIVE=0``) answer every Export the same way and write the
same rows — SDK events over the official gRPC exporter, the benchmark's large requests, requests with
refused events, and GenAI events mixed in."""

from __future__ import annotations

import os
import random
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from driftline.collector.schema import unify
from driftline.instrumentation import ml
from tests.receiver_process import ReceiverProcess
from tests.unit import test_native_logscan as cases

pytestmark = pytest.mark.slow

TS = 1_767_225_600.0  # 2026-01-01T00:00:00Z: fixed, so both receivers write the same partitions


def _sdk_events(grpc_port: int) -> None:
    provider = LoggerProvider(resource=Resource.create({"service.name": "scorer", "service.version": "3.1"}))
    provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"http://127.0.0.1:{grpc_port}", insecure=True))
    )
    ml.use_logger_provider(provider)
    try:
        for i in range(300):
            ml.log_inference(
                "fraud" if i % 3 else "pricing",
                f"v{i % 2}",
                {"amount": i * 1.5, "country": ["FR", "DE", "Zürich"][i % 3], "vip": i % 5 == 0, "user": {"age": i}},
                i % 2 == 0 if i % 3 else f"class-{i % 4}",
                probabilities={"yes": 0.25, "no": 0.75} if i % 4 == 0 else None,
                latency_ms=0.5 * i,
                segment={"channel": "web" if i % 2 else "app", "cohort": i % 7},
                request_id=f"r-{i}",
                ts=TS + i,
            )
            if i % 2:
                ml.log_label(f"r-{i}", i % 4 == 1, ts=TS + 3600 + i)
        provider.force_flush()
    finally:
        ml.use_logger_provider(None)
        provider.shutdown()


def _raw_requests() -> list[bytes]:
    from tests.benchmarks.bench_ml_ingest import build_template

    payload, _ = build_template()
    ok = cases.inference("ok-1", {"amount": 5.0})
    mixed = cases.request(
        cases.record([("gen_ai.system", "openai"), ("event.name", "gen_ai.user.message")], "hi", tid=b"\x01" * 16),
        cases.inference("m-1", {"x": 1, "y": "s"}),
        cases.label("m-1", "late"),
    )
    escaped = cases.request(cases.inference("e-1", {"note": 'say "hi"\nbye', "x": 2}))
    refused = [cases.request(ok, bad, cases.label("ok-1", 1.0)) for bad in cases.REFUSED[:8]]
    return [payload, mixed, escaped, *refused, cases.request(cases.REFUSED[0])]


def _rows(root: Path, dataset: str) -> list[dict]:
    files = sorted((root / dataset).rglob("*.parquet"))
    if not files:
        return []
    table = unify([pq.read_table(f, partitioning=None) for f in files]).drop_columns(["received_at"])
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.int64()))
    rows = table.to_pylist()
    return sorted(rows, key=lambda r: repr(sorted(r.items())))


def test_compiled_and_python_readers_answer_and_write_the_same(tmp_path: Path) -> None:
    from driftline.collector.native import logscan

    if logscan is None:
        assert not os.environ.get("CI"), "the compiled reader must be built in CI"
        pytest.skip("the compiled reader is not built here")
    receivers = {
        "compiled": ReceiverProcess(tmp_path / "compiled", instance_id="rx", env={"DRIFTLINE_NATIVE": "1"}),
        "python": ReceiverProcess(tmp_path / "python", instance_id="rx", env={"DRIFTLINE_NATIVE": "0"}),
    }
    answers: dict[str, list[tuple[int, bytes]]] = {}
    raw = _raw_requests()
    try:
        for name, proc in receivers.items():
            proc.start()
            said = {"compiled": "OTLP readers: compiled", "python": "OTLP readers: Python"}[name]
            assert any(said in line for line in proc.lines), proc.lines
            _sdk_events(proc.grpc_port)
            answers[name] = []
            for body in raw:
                resp = httpx.post(
                    f"http://127.0.0.1:{proc.http_port}/v1/logs",
                    content=body,
                    headers={"Content-Type": "application/x-protobuf"},
                    timeout=30,
                )
                answers[name].append((resp.status_code, resp.content))
    finally:
        for proc in receivers.values():
            if proc.proc is not None:
                assert proc.terminate() == 0  # a graceful stop drains every segment to Parquet
    assert answers["compiled"] == answers["python"]
    assert [code for code, _ in answers["python"]].count(400) == 1  # the request whose only record is refused
    for dataset in ("inferences", "labels", "logs"):
        compiled, python = _rows(tmp_path / "compiled", dataset), _rows(tmp_path / "python", dataset)
        assert compiled == python, dataset
        assert compiled, dataset
    assert len(_rows(tmp_path / "compiled", "inferences")) == 300 + 512 + 2 + 8


def _sdk_spans(grpc_port: int) -> None:
    """Agent-shaped spans from the official SDK and its OTLP/gRPC exporter (fixed times, so both
    receivers get the same spans): enough of each shape for its volatile keys (token counts, ids)
    to become slots of the compiled path."""
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.id_generator import IdGenerator

    class SeededIds(IdGenerator):  # the same ids for both receivers
        def __init__(self) -> None:
            self.rng = random.Random(7)

        def generate_span_id(self) -> int:
            return self.rng.getrandbits(64) or 1

        def generate_trace_id(self) -> int:
            return self.rng.getrandbits(128) or 1

    resource = Resource.create({"service.name": "support", "service.version": "v3"})
    provider = TracerProvider(resource=resource, id_generator=SeededIds())
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{grpc_port}", insecure=True)
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=256))
    tracer = provider.get_tracer("driftline.test")
    start = int(TS * 1e9)
    children = [
        ("chat gpt-4o", lambda i: {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                                   "gen_ai.usage.input_tokens": 100 + i, "gen_ai.usage.output_tokens": 7 * i,
                                   "gen_ai.response.id": f"chatcmpl-{i}", "gen_ai.request.temperature": 0.2}),
        ("execute_tool lookup", lambda i: {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup",
                                           "gen_ai.tool.call.id": f"call_{i}",
                                           "gen_ai.tool.call.arguments": f'{{"order": {i}}}'}),
    ]  # fmt: skip
    try:
        for i in range(700):
            t = start + i * 1_000_000
            agent = tracer.start_span("invoke_agent support", start_time=t)
            agent.set_attributes({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support"})
            with trace.use_span(agent, end_on_exit=False):
                for k, (name, attributes) in enumerate(children):
                    child = tracer.start_span(name, start_time=t + k + 1)
                    child.set_attributes(attributes(i))
                    if i % 50 == 0 and k == 0:
                        child.record_exception(ValueError("rate limited"), timestamp=t + 5)
                    child.end(end_time=t + 500_000)
            agent.end(end_time=t + 900_000)
        provider.force_flush()
    finally:
        provider.shutdown()


def test_compiled_and_python_span_paths_write_the_same(tmp_path: Path) -> None:
    """The compiled span path (collector/native/spanscan.c) and the Python normalizer, end to end: SDK
    spans over gRPC, the benchmark's requests (resent once) and the recorded fixtures over HTTP."""
    from driftline.collector.native import spanscan
    from driftline.collector.receiver.codec import json_to_protobuf
    from tests.benchmarks.bench_ingest import Patcher, build_template

    if spanscan is None:
        assert not os.environ.get("CI"), "the compiled span path must be built in CI"
        pytest.skip("the compiled span path is not built here")
    template, offsets = build_template(answers=True, start_ns=int(TS * 1e9))
    patcher = Patcher(template, offsets)
    bodies = [patcher.next() for _ in range(4)]
    bodies.append(bodies[0])  # a retry
    fixtures = Path(__file__).parents[1] / "fixtures" / "otlp"
    bodies += [json_to_protobuf("traces", p.read_bytes()) for p in sorted(fixtures.rglob("*.json"))]
    receivers = {
        "compiled": ReceiverProcess(tmp_path / "compiled", instance_id="rx", env={"DRIFTLINE_NATIVE": "1"}),
        "python": ReceiverProcess(tmp_path / "python", instance_id="rx", env={"DRIFTLINE_NATIVE": "0"}),
    }
    try:
        for proc in receivers.values():
            proc.start()
            _sdk_spans(proc.grpc_port)
            for body in bodies:
                resp = httpx.post(
                    f"http://127.0.0.1:{proc.http_port}/v1/traces",
                    content=body,
                    headers={"Content-Type": "application/x-protobuf"},
                    timeout=30,
                )
                assert resp.status_code == 200
    finally:
        for proc in receivers.values():
            if proc.proc is not None:
                assert proc.terminate() == 0
    compiled, python = _rows(tmp_path / "compiled", "spans"), _rows(tmp_path / "python", "spans")
    for rows in (compiled, python):
        for row in rows:
            row["attributes"] = sorted(row["attributes"])  # entry order is no part of the contract
        # the retry is dropped when it lands in its original's WAL segment and written again (both
        # paths alike; the views keep one copy) when a segment was sealed in between: timing, not the path
        distinct = {repr(sorted(r.items())): r for r in rows}
        rows[:] = [distinct[k] for k in sorted(distinct)]
    assert len(compiled) == len(python) >= 3 * 700 + 4 * 512
    assert compiled == python
