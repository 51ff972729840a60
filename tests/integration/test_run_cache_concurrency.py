"""Three processes refreshing one run cache while a live receiver writes — a scheduled report, the
console and a CLI diff at once: every read succeeds, sees each run once, and never goes backwards."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from pathlib import Path

from tests.receiver_process import ReceiverProcess

READ_S = 15.0


def _reader(root: str, until: float, queue: mp.Queue) -> None:
    """Refresh, attach and read the whole cache again and again; report every failure."""
    from driftline.analysis import run_cache
    from driftline.analysis.db import connect

    release = getattr(run_cache, "release", lambda con: con.close())
    reads, errors, counts = 0, [], []
    while time.time() < until:
        try:
            con = connect(root, cached_runs=True, only_runs=True)
            try:
                total, distinct = con.execute("SELECT count(*), count(DISTINCT run_id) FROM runs").fetchall()[0]
                rows = con.sql("SELECT * FROM runs").to_arrow_table().num_rows  # every cached file, read
                if total != distinct or rows != total:
                    errors.append(f"inconsistent read: {total} runs, {distinct} distinct, {rows} rows")
                counts.append(total)
            finally:
                release(con)
            reads += 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:300])
    queue.put((reads, errors, counts))


def _emit(port: int, stop: threading.Event) -> int:
    """Agent runs through the official OTLP/gRPC exporter until stopped; returns how many."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "support"}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"127.0.0.1:{port}", insecure=True), schedule_delay_millis=100)
    )
    tracer = provider.get_tracer("load")
    runs = 0
    while not stop.is_set():
        with (
            tracer.start_as_current_span(
                "invoke_agent support",
                attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support"},
            ),
            tracer.start_as_current_span(
                "chat gpt-4o-mini",
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 100,
                    "gen_ai.usage.output_tokens": 10,
                },
            ),
        ):
            pass
        runs += 1
        time.sleep(0.002)
    provider.shutdown()
    return runs


def test_three_refreshers_against_a_live_receiver_read_every_run_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rx = ReceiverProcess(data, "--flush-interval", "0.2", "--workers", "1", instance_id="live").start()
    stop = threading.Event()
    sent: list[int] = []
    sender = threading.Thread(target=lambda: sent.append(_emit(rx.grpc_port, stop)))
    sender.start()
    try:
        deadline = time.monotonic() + 20
        while not (data / "spans").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        until = time.time() + READ_S
        readers = [ctx.Process(target=_reader, args=(str(data), until, queue)) for _ in range(3)]
        for p in readers:
            p.start()
        results = [queue.get(timeout=READ_S + 120) for _ in readers]
        for p in readers:
            p.join(30)
    finally:
        stop.set()
        sender.join(30)
        assert rx.terminate() == 0
    for reads, errors, counts in results:
        assert errors == [], errors[:3]
        assert reads >= 3 and counts == sorted(counts) and counts[-1] > 0  # runs only ever arrive
    # after the receiver drained: the cache gives exactly the runs the spans give
    from driftline.analysis.db import connect

    live = connect(str(data)).execute("SELECT count(*) FROM runs").fetchall()[0][0]
    cached = connect(str(data), cached_runs=True, only_runs=True).execute("SELECT count(*) FROM runs").fetchall()[0][0]
    assert live == cached == sent[0]
