"""Encryption at rest (issue 19): the receiver writes Parquet with modular encryption and seals its WAL
records; nothing it stores reads without the key; every command reads the root given the key, refuses
it without (or with another) key in one line; the doctor checks the key; a WAL written with one key is
never replayed with another."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from driftline.collector import crypto
from driftline.collector.wal.log import WriteAheadLog, read_segment
from tests.span_rows import add_span

SECRET = "order-4711-for-alice"  # a value that must appear in no stored byte


def driftline(*args: str, key: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_ENCRYPTION")}
    if key:
        env[crypto.KEY_ENV] = key
    return subprocess.run(
        [sys.executable, "-m", "driftline.analysis.cli", *args], capture_output=True, text=True, timeout=120, env=env
    )


def _send(port: int, n: int) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "shop", "service.version": "v1"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces")))
    tracer = provider.get_tracer("t")
    for _ in range(n):
        with (
            tracer.start_as_current_span(
                "invoke_agent shop",
                attributes={
                    "gen_ai.operation.name": "invoke_agent",
                    "gen_ai.agent.name": "shop",
                    "gen_ai.agent.version": "v1",
                },
            ),
            tracer.start_as_current_span(
                "execute_tool lookup", attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": SECRET}
            ),
        ):
            pass
    provider.shutdown()


def _stored_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_an_encrypted_root_reads_only_with_its_key(receiver_factory, tmp_path: Path, monkeypatch) -> None:
    key = crypto.new_key()
    monkeypatch.setenv(crypto.KEY_ENV, key)
    receiver = receiver_factory()
    _send(receiver.http_port, 5)
    assert receiver.flush(10)
    root = Path(receiver.config.data)
    files = list((root / "spans").rglob("*.parquet"))
    assert files and SECRET.encode() not in _stored_bytes(root)
    with pytest.raises(OSError, match="encrypted"):
        pq.read_table(files[0])  # a copied file reveals nothing without the key
    monkeypatch.delenv(crypto.KEY_ENV)
    ok = driftline("runs", "--format", "json", "--data", str(root), key=key)
    assert ok.returncode == 0 and SECRET in ok.stdout and ok.stdout.count('"run_id"') == 5
    missing = driftline("runs", "--data", str(root), key=None)
    assert missing.returncode == 1 and "is encrypted (key id" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    other = driftline("runs", "--data", str(root), key=crypto.new_key())
    assert other.returncode == 1 and "not this key" in other.stderr
    doctor = driftline("doctor", "--data", str(root), key=key)
    assert "✓ encryption: on" in doctor.stdout and "unreadable" not in doctor.stdout
    doctor = driftline("doctor", "--data", str(root), key=None)
    assert doctor.returncode == 1 and "the root is encrypted" in doctor.stdout
    # compaction and the analysis views keep working on the encrypted root, and stay encrypted
    assert driftline("compact", "--min-age", "0", "--data", str(root), key=key).returncode == 0
    assert SECRET.encode() not in _stored_bytes(root)
    again = driftline("sql", "--format", "csv", "--data", str(root), "SELECT count(*) FROM spans", key=key)
    assert again.returncode == 0 and again.stdout.splitlines()[1] == "10"
    # runs derived ahead of a query would be stored in the clear: neither the receiver nor a rebuild does it
    receiver.derive_runs(lambda *_: pytest.fail("derived on an encrypted root"), grace_s=0)()
    assert receiver.hours is None
    rebuild = driftline("runs", "rebuild", "--data", str(root), key=key)
    assert rebuild.returncode == 1 and "encrypted root keeps no derived runs" in rebuild.stderr
    assert not (root / "runs").exists()


def test_a_receiver_refuses_the_wrong_key_and_plain_roots_stay_plain(receiver_factory, monkeypatch) -> None:
    monkeypatch.setenv(crypto.KEY_ENV, crypto.new_key())
    first = receiver_factory()
    _send(first.http_port, 1)
    assert first.flush(10)
    first.stop(grace=0.5)
    monkeypatch.setenv(crypto.KEY_ENV, crypto.new_key())
    with pytest.raises(crypto.EncryptionKeyError, match="not this key"):
        receiver_factory()
    monkeypatch.delenv(crypto.KEY_ENV)
    with pytest.raises(crypto.EncryptionKeyError, match="is encrypted"):
        receiver_factory()


def test_wal_records_are_sealed_and_a_wal_is_never_replayed_with_another_key(tmp_path: Path) -> None:
    key, other = crypto.RootKey(os.urandom(32)), crypto.RootKey(os.urandom(32))
    req = ExportTraceServiceRequest()
    add_span(req.resource_spans.add().scope_spans.add(), "a" * 32, "b" * 16, None, SECRET, {}, 0, 5)
    payload = req.SerializeToString()
    wal = WriteAheadLog(
        tmp_path / "wal", key=key, segment_bytes=1 << 20, max_pending_bytes=1 << 26, seal_after=60, on_sealed=print
    )
    wal.open()
    wal.append(1, payload, received_ns=123)
    wal.close()
    segments = [p for p in (tmp_path / "wal").iterdir() if p.suffix == ".wal"]
    raw = b"".join(p.read_bytes() for p in segments)
    assert segments and SECRET.encode() not in raw
    assert [r[2] for r in read_segment(segments[0], key)] == [payload]
    with pytest.raises(crypto.EncryptionKeyError):
        list(read_segment(segments[0], other))
    # a receiver started with another key (or none) refuses the leftover segments instead of losing them
    for wrong in (other, None):
        with pytest.raises(RuntimeError, match="start once as before to drain it"):
            WriteAheadLog(
                tmp_path / "wal",
                key=wrong,
                segment_bytes=1 << 20,
                max_pending_bytes=1 << 26,
                seal_after=60,
                on_sealed=print,
            ).open()
    assert all(p.exists() for p in segments)


def test_bad_keys_are_one_line_errors(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(crypto.KEY_ENV, "too-short")
    with pytest.raises(crypto.EncryptionKeyError, match="expected 32 bytes"):
        crypto.load_key()
    monkeypatch.delenv(crypto.KEY_ENV)
    key_file = tmp_path / "root.key"
    out = driftline("keys", "encryption", "--out", str(key_file), key=None)
    assert out.returncode == 0 and oct(key_file.stat().st_mode & 0o777) == "0o600"
    monkeypatch.setenv(crypto.KEY_FILE_ENV, str(key_file))
    assert crypto.load_key() is not None
    assert driftline("keys", "encryption", "--out", str(key_file), key=None).returncode == 1  # never overwritten


def test_sigkill_then_replay_of_sealed_records_keeps_every_acked_span(tmp_path: Path) -> None:
    """The crash path with encryption on: records sealed in the WAL before the kill are opened and
    written (encrypted) after the restart — nothing acknowledged is lost."""
    import threading
    import time
    from collections import Counter

    import pyarrow.dataset as ds

    from tests.integration.test_crash import _sender
    from tests.receiver_process import ReceiverProcess

    data = tmp_path / "data"
    env = {crypto.KEY_ENV: crypto.new_key()}
    args = ("--flush-interval", "0.3", "--workers", "1")
    rx = ReceiverProcess(data, *args, instance_id="sealed", env=env).start()
    acked: list[str] = []
    stop = threading.Event()
    senders = [threading.Thread(target=_sender, args=(rx.grpc_port, acked, stop)) for _ in range(2)]
    for t in senders:
        t.start()
    try:
        deadline = time.monotonic() + 20
        while len(acked) < 5000 and time.monotonic() < deadline:
            time.sleep(0.05)
        rx.kill()
    finally:
        stop.set()
        for t in senders:
            t.join(10)
    assert len(acked) >= 5000
    rx2 = ReceiverProcess(data, *args, instance_id="sealed", env=env).start()
    assert rx2.terminate() == 0, "".join(rx2.lines)
    key = crypto._parse(env[crypto.KEY_ENV], "test")
    files = [str(p) for p in (data / "spans").rglob("*.parquet")]
    table = ds.dataset(files, format=crypto.parquet_format(key)).to_table(columns=["span_id"])
    stored = Counter(table.column("span_id").to_pylist())
    assert not [s for s in acked if s not in stored] and max(stored.values()) == 1
