"""Stages 2 -> 4 glue: hands sealed WAL segments to worker processes and releases them when written.

Why processes: normalization is pure-Python work per span and would otherwise share one core (the
GIL) with the receiver's Export path. Workers are started with ``spawn`` (never ``fork``: gRPC's
threads do not survive a fork). A segment that fails is retried with backoff, and kept on disk for
the next start if it keeps failing — never deleted unwritten.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from driftline.collector.normalize.normalizer import NormalizeOptions
from driftline.collector.normalize.segment import SegmentResult, process_segment
from driftline.collector.telemetry import Telemetry
from driftline.collector.wal.log import Segment, WriteAheadLog

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: leave when the receiver is gone (SIGKILL, OOM kill) instead of lingering.

    Exiting mid-segment loses nothing: the segment is still in the WAL, and its replay rewrites the
    same file names.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="driftline-parent-watch", daemon=True).start()


def _new_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=_exit_with_parent, initargs=(os.getpid(),)
    )


class SegmentPipeline:
    def __init__(
        self,
        *,
        wal: WriteAheadLog,
        root: str,
        instance_id: str,
        options: NormalizeOptions,
        workers: int,
        telemetry: Telemetry,
    ) -> None:
        self.wal = wal
        self.root = root
        self.instance_id = instance_id
        self.options = options
        self.workers = workers
        self.telemetry = telemetry
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Condition()
        self._in_flight: dict[int, Segment] = {}
        self._attempts: dict[int, int] = {}
        self._closing = False

    def start(self) -> None:
        self._pool = _new_pool(self.workers)

    @property
    def depth(self) -> int:
        return len(self._in_flight)

    def submit(self, segment: Segment) -> None:
        """Called by the WAL writer when a segment is sealed (and at start for leftovers)."""
        with self._lock:
            self._in_flight[segment.seq] = segment
        self._dispatch(segment)

    def _dispatch(self, segment: Segment) -> None:
        assert self._pool is not None
        try:
            fut = self._pool.submit(
                process_segment, str(segment.path), segment.seq, self.root, self.instance_id, self.options
            )
        except (RuntimeError, BrokenProcessPool) as exc:  # pool shut down or broken: keep it for next start
            log.error("segment %d not processed now (%s); it stays in the WAL for the next start", segment.seq, exc)
            self._forget(segment)
            return
        fut.add_done_callback(lambda f, s=segment: self._done(s, f))

    def _done(self, segment: Segment, fut: Future[SegmentResult]) -> None:
        try:
            result = fut.result()
        except Exception as exc:
            attempts = self._attempts.get(segment.seq, 0) + 1
            self._attempts[segment.seq] = attempts
            self.telemetry.segment_failures.inc()
            if isinstance(exc, BrokenProcessPool) and not self._closing:  # a worker died (OOM kill...)
                self._restart_pool()
            if attempts >= MAX_ATTEMPTS or self._closing:
                log.error(
                    "segment %d failed %d time(s) (%s); it stays in the WAL for the next start",
                    segment.seq,
                    attempts,
                    exc,
                )
                self._forget(segment)
                return
            log.warning("segment %d failed (%s); retrying", segment.seq, exc)
            threading.Timer(min(30.0, 0.5 * 2**attempts), self._dispatch, args=(segment,)).start()
            return
        for dataset, rows in result.written.items():
            self.telemetry.written.labels(dataset).inc(rows)
        self.telemetry.flush_latency.observe(result.seconds)
        self.wal.release(segment)
        self._attempts.pop(segment.seq, None)
        self._forget(segment)

    def _restart_pool(self) -> None:
        with self._lock:
            old, self._pool = self._pool, _new_pool(self.workers)
        if old is not None:
            old.shutdown(wait=False, cancel_futures=False)

    def _forget(self, segment: Segment) -> None:
        with self._lock:
            self._in_flight.pop(segment.seq, None)
            self._lock.notify_all()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every submitted segment is written (or given up); True when nothing is left."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._in_flight:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._lock.wait(remaining)
        return True

    def close(self, timeout: float | None = None) -> None:
        self.drain(timeout)
        self._closing = True
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
