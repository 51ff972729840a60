"""Every acknowledged span exactly once, through what operators do: clean restarts within one hour
with a stable instance id, compaction between them, several workers, SIGKILL mid-stream, and a
bounded chaos loop of kills and restarts. Real ``driftline serve`` processes on loopback."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest

from tests.conftest import assert_exactly_once
from tests.integration.otlp_payloads import TRACE_METHOD, trace_request
from tests.receiver_process import ReceiverProcess

pytestmark = pytest.mark.slow


def _send(port: int, acked: list[str], requests: int | None = None, stop: threading.Event | None = None) -> None:
    """Export 128-span requests one after another; record the ids of each acknowledged one. Returns
    when ``requests`` were sent, ``stop`` is set, or the receiver goes away."""
    sent = 0
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(TRACE_METHOD)
        while (requests is None or sent < requests) and not (stop and stop.is_set()):
            req, ids = trace_request(n=128)
            try:
                call(req.SerializeToString(), timeout=10)
            except grpc.RpcError:
                return  # not acknowledged (the receiver was stopped or killed)
            acked.extend(ids)
            sent += 1


def _cycle(data: Path, acked: list[str], *args: str, instance_id: str = "rx-0") -> None:
    """Start, send 6,144 spans, stop with SIGTERM (a clean restart when called again)."""
    rx = ReceiverProcess(data, "--flush-interval", "0.2", *args, instance_id=instance_id).start()
    before = len(acked)
    _send(rx.grpc_port, acked, requests=48)
    assert len(acked) - before == 6144
    assert rx.terminate() == 0, "".join(rx.lines)


def _compact(data: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "driftline.analysis.cli", "compact", "--data", str(data), "--min-age", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_clean_restarts_in_one_hour_then_compaction_keep_every_span(tmp_path: Path) -> None:
    data = tmp_path / "data"
    acked: list[str] = []
    for _ in range(3):
        _cycle(data, acked, "--workers", "1")
    assert_exactly_once(data, acked)
    assert "compacted" in _compact(data)
    _cycle(data, acked, "--workers", "1")
    _compact(data)
    assert_exactly_once(data, acked)
    assert len(acked) == 4 * 6144
    assert not list((data / "wal" / "rx-0").glob("seg-*.wal"))


def test_two_workers_sigkill_and_restarts_keep_every_span(tmp_path: Path) -> None:
    data = tmp_path / "data"
    acked: list[str] = []
    _cycle(data, acked, "--workers", "2")
    # a SIGKILL while four clients send: open and sealed segments, workers releasing out of order
    rx = ReceiverProcess(data, "--flush-interval", "0.1", "--workers", "2", instance_id="rx-0").start()
    stop = threading.Event()
    senders = [threading.Thread(target=_send, args=(rx.grpc_port, acked), kwargs={"stop": stop}) for _ in range(4)]
    for t in senders:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 6144 + 12_000 and time.monotonic() < deadline:
        time.sleep(0.02)
    rx.kill()
    stop.set()
    for t in senders:
        t.join(15)
    _cycle(data, acked, "--workers", "2")  # replays what the killed run left, then takes new spans
    _cycle(data, acked, "--workers", "2")
    _compact(data)
    assert_exactly_once(data, acked)


def test_chaos_kill_and_restart_under_load(tmp_path: Path) -> None:
    """SIGKILL or SIGTERM at random moments under load for a bounded time; compaction after clean
    stops; at the end every acknowledged span is stored exactly once."""
    data = tmp_path / "data"
    rng = random.Random(12)
    acked: list[str] = []
    kills = terms = 0
    deadline = time.monotonic() + 25
    while time.monotonic() < deadline:
        rx = ReceiverProcess(data, "--flush-interval", "0.1", "--workers", "2", instance_id="rx-0").start()
        stop = threading.Event()
        senders = [threading.Thread(target=_send, args=(rx.grpc_port, acked), kwargs={"stop": stop}) for _ in range(3)]
        for t in senders:
            t.start()
        time.sleep(rng.uniform(0.3, 2.0))
        if rng.random() < 0.5:
            rx.kill()
            kills += 1
        else:
            stop.set()  # a clean stop first stops taking requests, then drains
            assert rx.terminate() == 0, "".join(rx.lines)
            terms += 1
            assert not list((data / "wal" / "rx-0").glob("seg-*.wal")), "a clean stop left WAL segments"
            _compact(data)
        stop.set()
        for t in senders:
            t.join(15)
    rx = ReceiverProcess(data, "--workers", "2", instance_id="rx-0").start()
    assert rx.terminate() == 0  # replays whatever the last kill left
    _compact(data)
    assert kills and terms and len(acked) > 10_000
    assert_exactly_once(data, acked)
