"""The receiver's handle on its embedding process (embeddings-only mode): start, stop, drain, counters."""

from __future__ import annotations

import multiprocessing
import os
import time
from typing import Any

from driftline.collector.embed import spool, worker


class EmbeddingProcess:
    """A spawned, low-priority process embedding what the normalizers spool (``worker.run``)."""

    def __init__(self, config: Any) -> None:
        self.directory = config.wal_path / spool.SPOOL_DIR
        self.root = config.data
        self.model = config.embedder_config
        self.scrub_pii = config.scrub_pii
        ctx = multiprocessing.get_context("spawn")  # never fork: gRPC's threads do not survive it
        self._ctx = ctx
        self._stop = ctx.Event()
        self._count = ctx.Value("q", 0)
        self._process: Any = None

    def start(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._process = self._ctx.Process(
            target=worker.run,
            args=(str(self.directory), self.root, self.model, self._stop, self._count, os.getpid(), self.scrub_pii),
            name="driftline-embed",
            daemon=True,
        )
        self._process.start()

    @property
    def embedded(self) -> int:
        return int(self._count.value)

    @property
    def backlog_bytes(self) -> int:
        return spool.backlog_bytes(self.directory)

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def drain(self, timeout: float) -> bool:
        """Wait until the spool is empty (True) or ``timeout`` passes or the process is gone (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not spool.pending(self.directory):
                return True
            if not self.alive:
                return False
            time.sleep(0.05)
        return not spool.pending(self.directory)

    def stop(self, timeout: float = 10.0) -> None:
        if self._process is None:
            return
        self._stop.set()
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(2)
