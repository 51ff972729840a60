"""Run ``driftline serve`` as a real subprocess and learn its bound ports from its ready log line."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

_READY = re.compile(r"OTLP/gRPC on [\d.]+:(\d+), OTLP/HTTP on https?://[\d.]+:(\d+)")


def child_pids(pid: int) -> list[int]:
    """Live child processes of ``pid`` (the receiver's normalizer workers), from /proc."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


class ReceiverProcess:
    def __init__(self, data: Path, *args: str, instance_id: str = "proc", env: dict[str, str] | None = None) -> None:
        self.data = data
        self.env = env or {}
        self.args = ["--data", str(data), "--grpc-port", "0", "--http-port", "0", "--instance-id", instance_id, *args]
        self.proc: subprocess.Popen[str] | None = None
        self.grpc_port = self.http_port = 0
        self.lines: list[str] = []

    def start(self, timeout: float = 30) -> ReceiverProcess:
        cmd = [sys.executable, "-m", "driftline.analysis.cli", "serve", *self.args]
        self.proc = subprocess.Popen(
            cmd,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
        )
        ready = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stderr is not None
            for line in self.proc.stderr:
                self.lines.append(line)
                m = _READY.search(line)
                if m:
                    self.grpc_port, self.http_port = int(m.group(1)), int(m.group(2))
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("receiver did not become ready:\n" + "".join(self.lines))
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 60) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)
