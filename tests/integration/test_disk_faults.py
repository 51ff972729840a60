"""A full disk and a failing fdatasync, on a real ``driftline serve`` process.

Disk full: the data root and the WAL sit on a small tmpfs that another file fills (needs root to
mount; CI runs as root). The receiver must refuse with a retryable status while the disk is full,
never acknowledge anything written after torn bytes, and resume by itself when space returns.

fdatasync failing: an ``LD_PRELOAD`` shim (built with gcc) makes ``fdatasync`` return EIO once a
flag file exists. The receiver must stop acknowledging at once and exit non-zero with a clear
message; after a restart every span acknowledged before the failure is in Parquet.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import grpc
import httpx
import pytest

from tests.conftest import assert_exactly_once
from tests.integration.otlp_payloads import TRACE_METHOD, trace_request
from tests.receiver_process import ReceiverProcess

pytestmark = pytest.mark.slow

SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
int fdatasync(int fd) {
    static int (*real)(int) = 0;
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    const char *flag = getenv("DRIFTLINE_TEST_FAIL_FDATASYNC");
    if (flag && access(flag, F_OK) == 0) { errno = EIO; return -1; }
    return real(fd);
}
"""


@pytest.fixture
def small_disk(tmp_path: Path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _export(port: int, spans: int = 50) -> tuple[list[str], grpc.StatusCode | None]:
    req, ids = trace_request(n=spans, attrs={"note": "n" * 200})
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            channel.unary_unary(TRACE_METHOD)(req.SerializeToString(), timeout=10)
        except grpc.RpcError as exc:
            return ids, exc.code()
    return ids, None


def test_disk_full_refuses_then_resumes_and_loses_nothing(small_disk: Path) -> None:
    data = small_disk / "data"
    # a long flush interval keeps the segment that hit the full disk open when space returns: the
    # writes after it must not land behind torn bytes
    rx = ReceiverProcess(data, "--flush-interval", "30", "--workers", "1", instance_id="full").start()
    try:
        acked: list[str] = []
        for _ in range(20):
            ids, code = _export(rx.grpc_port)
            assert code is None
            acked += ids
        free = shutil.disk_usage(small_disk).free
        filler = small_disk / "filler"
        with open(filler, "wb") as f:  # leave ~600 kB: a few requests fit, then the disk is full
            f.write(b"\0" * max(0, free - 600_000))
        codes: Counter = Counter()
        refused_in_a_row = sent = 0
        while refused_in_a_row < 10 and sent < 2000:
            ids, code = _export(rx.grpc_port, spans=200)  # ~70 kB frames: the last write is cut part-way
            sent += 1
            if code is None:
                acked += ids
                refused_in_a_row = 0
            else:
                codes[code] += 1
                refused_in_a_row += 1
                time.sleep(0.05)
        assert refused_in_a_row == 10, "the receiver never refused on a full disk"
        assert set(codes) <= {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED}, codes
        metrics = httpx.get(f"http://127.0.0.1:{rx.http_port}/metrics", timeout=10).text
        assert 'outcome="disk_full"' in metrics and "No space left on device" in "".join(rx.lines)
        filler.unlink()  # space returns: the receiver resumes by itself
        resumed = 0
        deadline = time.monotonic() + 60
        while resumed < 20 and time.monotonic() < deadline:
            ids, code = _export(rx.grpc_port)
            if code is None:
                acked += ids
                resumed += 1
            else:
                time.sleep(0.2)
        assert resumed == 20, "the receiver did not resume after space returned"
        assert rx.terminate(timeout=120) == 0, "".join(rx.lines)
    finally:
        rx.kill()
    assert_exactly_once(data, acked)
    assert not list((data / "wal" / "full").glob("seg-*.wal"))


def _build_shim(tmp_path: Path) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the fdatasync fault shim")
    source, lib = tmp_path / "shim.c", tmp_path / "failsync.so"
    source.write_text(SHIM)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(lib), str(source), "-ldl"], check=True)
    return lib


def test_failing_fdatasync_stops_the_receiver_and_nothing_is_acked_after_it(tmp_path: Path) -> None:
    lib = _build_shim(tmp_path)
    flag = tmp_path / "fail-now"
    data = tmp_path / "data"
    env = {"LD_PRELOAD": str(lib), "DRIFTLINE_TEST_FAIL_FDATASYNC": str(flag)}
    rx = ReceiverProcess(data, "--flush-interval", "0.2", "--workers", "1", instance_id="sync", env=env).start()
    try:
        acked: list[str] = []
        for _ in range(10):
            ids, code = _export(rx.grpc_port)
            assert code is None
            acked += ids
        flag.touch()
        after: list[grpc.StatusCode | None] = []
        for _ in range(5):
            ids, code = _export(rx.grpc_port)
            after.append(code)
            if code is None:
                acked += ids
        assert after[0] is not None and None not in after, f"acknowledged after an fdatasync error: {after}"
        assert rx.proc is not None
        code = rx.proc.wait(30)
        log = "".join(rx.lines)
        assert code == 1, log
        assert "fdatasync of the write-ahead log failed" in log and "start it again" in log
    finally:
        with contextlib.suppress(Exception):
            rx.kill()
    flag.unlink()
    again = ReceiverProcess(data, "--workers", "1", instance_id="sync").start()  # no shim: replays the WAL
    assert again.terminate() == 0, "".join(again.lines)
    assert_exactly_once(data, acked)
