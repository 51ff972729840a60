"""A segment that keeps failing is quarantined (moved aside with its reason, its bytes released from the
WAL budget, counted in /metrics, listed by doctor) and ``driftline replay`` writes it once fixed; a
worker pool broken by a dying worker is replaced once, not once per segment it was running."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from click.testing import CliRunner

from driftline.analysis.cli import cli
from driftline.collector import otlp
from driftline.collector.doctor import check_wal
from driftline.collector.normalize.normalizer import NormalizeOptions
from driftline.collector.normalize.segment import SegmentResult, process_segment
from driftline.collector.pipeline import MAX_ATTEMPTS, SegmentPipeline
from driftline.collector.telemetry import Telemetry
from driftline.collector.wal.log import QUARANTINE_DIR, WriteAheadLog
from tests.conftest import read_dataset
from tests.integration.otlp_payloads import trace_request


def fail_always(path: str, stem: str, root: str, instance_id: str, options: NormalizeOptions) -> SegmentResult:
    """Runs in a worker process: a segment this build cannot write (a bug, not the environment)."""
    raise ValueError("cannot normalize this segment")


def die_once(path: str, stem: str, root: str, instance_id: str, options: NormalizeOptions) -> SegmentResult:
    """Runs in a worker process: the first call kills its worker (an OOM kill), later calls work."""
    time.sleep(0.5)  # every segment is in the pool (running or queued) when the first one dies
    try:
        os.close(os.open(Path(root) / "died", os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return process_segment(path, stem, root, instance_id, options)
    os._exit(1)


def _pipeline(tmp_path: Path, process, workers: int = 1) -> tuple[WriteAheadLog, SegmentPipeline, Telemetry]:
    holder: list[SegmentPipeline] = []
    wal = WriteAheadLog(
        tmp_path / "wal" / "rx",
        segment_bytes=1 << 20,
        max_pending_bytes=1 << 22,
        seal_after=60,
        on_sealed=lambda s: holder[0].submit(s),
    )
    telemetry = Telemetry(queue_depth=lambda: 0, wal_bytes=lambda: wal.pending_bytes)
    pipeline = SegmentPipeline(
        wal=wal,
        root=str(tmp_path / "data"),
        instance_id="rx",
        options=NormalizeOptions(),
        workers=workers,
        telemetry=telemetry,
        process=process,
        retry_base_s=0.01,
    )
    holder.append(pipeline)
    (tmp_path / "data").mkdir()
    pipeline.start()
    wal.open()
    return wal, pipeline, telemetry


def _wait(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_failing_segment_is_quarantined_listed_and_replayed(tmp_path: Path) -> None:
    wal, pipeline, telemetry = _pipeline(tmp_path, fail_always)
    req, ids = trace_request(n=7)
    wal.append(otlp.SIGNAL_CODES["traces"], req.SerializeToString())
    assert wal.pending_bytes > 0
    wal.seal_now()
    _wait(lambda: telemetry.quarantined._value.get() == 1)
    pipeline.drain(10)
    assert wal.pending_bytes == 0  # released from the budget: ingest goes on
    moved = list((tmp_path / "wal" / "rx" / QUARANTINE_DIR).glob("seg-*.wal"))
    assert len(moved) == 1
    record = json.loads(moved[0].with_suffix(".json").read_text())
    assert record["reason"] == "ValueError: cannot normalize this segment" and record["attempts"] == MAX_ATTEMPTS
    assert "driftline_quarantined_segments_total 1.0" in telemetry.render().decode()
    wal.close()
    pipeline.close(10)

    checks = [c for c in check_wal(tmp_path / "wal") if c.what == "WAL quarantine"]
    assert len(checks) == 1 and checks[0].status == "error" and "driftline replay" in checks[0].fix
    assert "cannot normalize" in checks[0].detail

    data = str(tmp_path / "data")
    out = CliRunner().invoke(cli, ["replay", "--data", data, "--wal-dir", str(tmp_path / "wal")])
    assert out.exit_code == 0, out.output
    assert "1 segment(s) replayed, 0 failed" in out.output
    assert sorted(read_dataset(data).column("span_id").to_pylist()) == sorted(ids)
    assert not list((tmp_path / "wal" / "rx" / QUARANTINE_DIR).iterdir())
    again = CliRunner().invoke(cli, ["replay", "--data", data, "--wal-dir", str(tmp_path / "wal")])
    assert again.exit_code == 0 and "0 segment(s) replayed" in again.output


def test_a_broken_pool_is_replaced_once(tmp_path: Path) -> None:
    wal, pipeline, telemetry = _pipeline(tmp_path, die_once, workers=2)
    sent = []
    for i in range(4):  # four segments in the pool when a worker dies
        req, ids = trace_request(n=3)
        sent += ids
        wal.append(otlp.SIGNAL_CODES["traces"], req.SerializeToString())
        wal.seal_now()
        _wait(lambda n=i + 1: pipeline.depth >= n, 5)
    _wait(lambda: telemetry.written.labels("spans")._value.get() == len(sent))
    assert telemetry.pool_restarts._value.get() == 1
    assert telemetry.segment_failures._value.get() == 4  # every segment failed with the one broken pool
    assert sorted(read_dataset(tmp_path / "data").column("span_id").to_pylist()) == sorted(sent)
    wal.close()
    pipeline.close(10)


def test_normalizer_workers_yield_the_cpu_to_the_export_path() -> None:
    """Workers run at a lower priority than the receiver: on a saturated machine the Export path (which
    clients wait on) runs first and the WAL absorbs the burst, instead of every Export queueing behind
    normalization."""
    from driftline.collector.pipeline import WORKER_NICE, _new_pool

    pool = _new_pool(1)
    try:
        worker = pool.submit(os.nice, 0).result(timeout=120)
    finally:
        pool.shutdown()
    assert worker == min(os.nice(0) + WORKER_NICE, 19)
