"""SIGKILL the receiver while exporters send; restart; every acknowledged span is in Parquet exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import grpc
import pytest

from tests.conftest import read_dataset
from tests.integration.otlp_payloads import TRACE_METHOD, trace_request
from tests.receiver_process import ReceiverProcess, child_pids


def _sender(port: int, acked: list[str], stop: threading.Event) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(TRACE_METHOD)
        while not stop.is_set():
            req, ids = trace_request(n=50)
            try:
                call(req.SerializeToString(), timeout=5)
            except grpc.RpcError:
                return  # the receiver is gone: this request was not acknowledged
            acked.extend(ids)


@pytest.mark.slow
def test_sigkill_then_replay_keeps_every_acked_span_once(tmp_path) -> None:
    data = tmp_path / "data"
    rx = ReceiverProcess(data, "--flush-interval", "0.3", "--workers", "1", instance_id="crashy").start()
    acked: list[str] = []
    stop = threading.Event()
    senders = [threading.Thread(target=_sender, args=(rx.grpc_port, acked, stop)) for _ in range(4)]
    for t in senders:
        t.start()
    try:
        deadline = time.monotonic() + 20
        while len(acked) < 20000 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = child_pids(rx.pid)
        rx.kill()  # mid-stream: requests in flight, segments open and sealed, workers busy
    finally:
        stop.set()
        for t in senders:
            t.join(10)
    assert len(acked) >= 20000
    assert workers, "the receiver should run normalizer worker processes"
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{w}").exists() for w in workers), "workers outlived their receiver"
    before = read_dataset(data).num_rows if (data / "spans").exists() else 0

    rx2 = ReceiverProcess(data, "--flush-interval", "0.3", "--workers", "1", instance_id="crashy").start()
    assert rx2.terminate() == 0, "".join(rx2.lines)  # SIGTERM drains the replayed WAL to Parquet
    assert "replaying" in "".join(rx2.lines)

    table = read_dataset(data)
    counts = Counter(zip(table.column("trace_id").to_pylist(), table.column("span_id").to_pylist(), strict=False))
    stored = Counter(span for (_, span) in counts.elements())
    missing = [s for s in acked if s not in stored]
    assert not missing, f"{len(missing)} acknowledged spans lost (had {before} rows before restart)"
    assert max(counts.values()) == 1, "a span was written twice"
    assert not list((data / "wal" / "crashy").glob("seg-*.wal")), "WAL segments left after a clean stop"
