"""Stages 2 -> 4 glue: hands sealed WAL segments to worker processes and releases them when written.

Why processes: normalization is per-span work and would otherwise share one core (the GIL) with the
receiver's Export path. Workers are started with ``spawn`` (never ``fork``: gRPC's threads do not
survive a fork), at a lower priority than the receiver (``WORKER_NICE``): when the cores are
saturated, the Export path clients wait on runs first and the WAL absorbs the burst.

A segment that fails is retried with backoff. Failures of the environment (``OSError``: a full disk,
an unreachable bucket) are retried for as long as they last — the segment is fine, the sink is not.
Any other failure (a bug, a poisonous request that crashes the worker) counts: after
``MAX_ATTEMPTS`` the segment is quarantined — moved aside with the reason, its bytes released from
the WAL budget, counted in ``/metrics`` — so one bad segment never blocks ingest and nothing is
deleted unwritten (``driftline replay`` retries it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import os
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from driftline.collector.normalize.normalizer import NormalizeOptions
from driftline.collector.normalize.segment import SegmentResult, process_segment
from driftline.collector.telemetry import Telemetry
from driftline.collector.wal.log import Segment, WriteAheadLog

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
MAX_BACKOFF_S = 10.0  # a full disk freed is noticed within this
# on a saturated machine the Export path (the ack clients wait for) runs first; bench_ingest's Export
# p99 on 2 cores: a median of ~54 ms at +5, ~47 ms at +10, with the same durable spans/s
WORKER_NICE = 10


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
    with contextlib.suppress(OSError, AttributeError):
        os.nice(WORKER_NICE)


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
        process: Callable[..., SegmentResult] = process_segment,
        retry_base_s: float = 0.5,
    ) -> None:
        self.wal = wal
        self.root = root
        self.instance_id = instance_id
        self.options = options
        self.workers = workers
        self.telemetry = telemetry
        self.process = process  # a module-level function: it is pickled to the worker processes
        self.retry_base_s = retry_base_s
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Condition()
        self._in_flight: dict[str, Segment] = {}
        self.on_written: Callable[[list[str]], None] | None = None  # told the files of each segment written
        self._attempts: dict[str, tuple[int, int]] = {}  # stem -> (tries, failures that count)
        self._closing = False

    def start(self) -> None:
        self._pool = _new_pool(self.workers)

    @property
    def depth(self) -> int:
        return len(self._in_flight)

    def submit(self, segment: Segment) -> None:
        """Called by the WAL writer when a segment is sealed (and at start for leftovers)."""
        with self._lock:
            self._in_flight[segment.stem] = segment
        self._dispatch(segment)

    def _dispatch(self, segment: Segment) -> None:
        with self._lock:
            pool = self._pool
        if pool is None or self._closing:
            self._forget(segment)  # stopping: it stays in the WAL for the next start
            return
        try:
            fut = pool.submit(self.process, str(segment.path), segment.stem, self.root, self.instance_id, self.options)
        except BrokenProcessPool:  # a worker died between two segments: a new pool, then this one again
            self._restart_pool(pool)
            self._dispatch(segment)
            return
        except RuntimeError as exc:  # pool shut down: keep it for next start
            log.error("segment %s not processed now (%s); it stays in the WAL for the next start", segment.stem, exc)
            self._forget(segment)
            return
        fut.add_done_callback(lambda f, s=segment, p=pool: self._done(s, f, p))

    def _done(self, segment: Segment, fut: Future[SegmentResult], pool: ProcessPoolExecutor) -> None:
        try:
            result = fut.result()
        except Exception as exc:
            self._failed(segment, exc, pool)
            return
        for dataset, rows in result.written.items():
            self.telemetry.written.labels(dataset).inc(rows)
        if result.conflicting_ids:
            self.telemetry.conflicting_span_ids.inc(result.conflicting_ids)
        if result.embed_spooled or result.embed_dropped:
            self.telemetry.embed_spooled.inc(result.embed_spooled)
            self.telemetry.embed_dropped.inc(result.embed_dropped)
        self.telemetry.flush_latency.observe(result.seconds)
        if self.on_written is not None:
            try:
                self.on_written(result.files)
            except Exception:  # a listener's failure must not keep a written segment in the WAL
                log.exception("a listener of written files failed")
        self.wal.release(segment)
        self._attempts.pop(segment.stem, None)
        self._forget(segment)

    def _failed(self, segment: Segment, exc: BaseException, pool: ProcessPoolExecutor) -> None:
        """Retry with backoff; quarantine after MAX_ATTEMPTS failures that are not the environment's."""
        self.telemetry.segment_failures.inc()
        if isinstance(exc, BrokenProcessPool) and not self._closing:  # a worker died (OOM kill, crash...)
            self._restart_pool(pool)
        if self._closing:
            log.error("segment %s failed (%s) while stopping; it stays in the WAL for next start", segment.stem, exc)
            self._forget(segment)
            return
        environmental = isinstance(exc, OSError)  # full disk, lost mount, bucket down: the segment is fine
        tries, attempts = self._attempts.get(segment.stem, (0, 0))
        tries, attempts = tries + 1, attempts + (0 if environmental else 1)
        self._attempts[segment.stem] = (tries, attempts)
        if attempts >= MAX_ATTEMPTS:
            self._quarantine(segment, exc, attempts)
            return
        delay = min(MAX_BACKOFF_S, self.retry_base_s * 2**tries)
        log.warning("segment %s failed (%s); retrying in %.1fs", segment.stem, exc, delay)
        timer = threading.Timer(delay, self._dispatch, args=(segment,))
        timer.daemon = True
        timer.start()

    def _quarantine(self, segment: Segment, exc: BaseException, attempts: int) -> None:
        record = {
            "segment": segment.path.name,
            "instance_id": self.instance_id,
            "reason": f"{type(exc).__name__}: {exc}",
            "traceback": "".join(traceback.format_exception(exc))[-4000:],
            "attempts": attempts,
            "quarantined_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "options": dataclasses.asdict(self.options),
        }
        try:
            target = self.wal.quarantine(segment, record)
        except OSError as move_error:  # cannot even move it: leave it for the next start
            log.error("segment %s could not be quarantined (%s); it stays in the WAL", segment.stem, move_error)
        else:
            self.telemetry.quarantined.inc()
            log.error(
                "segment %s failed %d times (%s); quarantined as %s — retry with: driftline replay --wal-dir %s",
                segment.stem,
                attempts,
                exc,
                target,
                self.wal.directory.parent,
            )
        self._attempts.pop(segment.stem, None)
        self._forget(segment)

    def _restart_pool(self, broken: ProcessPoolExecutor) -> None:
        """Replace ``broken`` once: every future of a broken pool fails, but only the first restarts it."""
        with self._lock:
            if self._pool is not broken or self._closing:
                return
            self._pool = _new_pool(self.workers)
            self.telemetry.pool_restarts.inc()
        broken.shutdown(wait=False, cancel_futures=False)

    def _forget(self, segment: Segment) -> None:
        with self._lock:
            self._in_flight.pop(segment.stem, None)
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
