"""Stage 4, after the sink: derive each hour's runs where its spans arrived, once the hour is over.

Why here: a diff of 100,000 runs spent seconds deriving runs from two million spans at query time.
A receiver knows which hours it wrote and when it stopped writing them, so it derives an hour once,
in the background, from its own span files only (``<instance>-…parquet``) — behind the OTel
Collector's ``loadbalancing`` exporter, routing by trace id, every trace reaches one receiver, so
each derives complete runs and the work spreads with the receivers. The derivation itself is the
analysis's (``analysis/run_derivation.py``: the same SQL as the ``runs`` view), handed in by
``driftline serve``, so the collector does not import the analysis.

When: an hour is due ``grace`` seconds after its end, or after the last write into it, whichever is
later; a late span for a derived hour marks it again and it is derived again (the new file replaces
the old). On start, the hours this instance wrote in the last ``RECOVER_S`` are marked, so what a
crash or a restart interrupted is derived (a derivation that exists already costs a listing). A
failed derivation (a file compacted away meanwhile, a full disk) is retried later; nothing depends
on it: a reader derives any hour whose runs files do not account for all of its spans.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import pyarrow.fs as pafs

from driftline.collector.schema import (
    HOUR_S,
    filesystem,
    is_finished_parquet,
    partition_start,
    span_file_group,
)

Deriver = Callable[[str, list[str]], object]  # (partition, the instance's span files of it)
RECOVER_S = 48 * 3600
RETRY_S = 60.0
log = logging.getLogger("driftline.collector.runs")


class HourCloser:
    def __init__(
        self,
        root: str,
        instance_id: str,
        derive: Deriver,
        grace_s: float = 300.0,
        interval_s: float = 5.0,
        on_derived: Callable[[float], None] | None = None,
        on_failed: Callable[[], None] | None = None,
    ) -> None:
        self.fs, self.base = filesystem(root)
        self.instance_id = instance_id
        self.derive = derive
        self.grace_s, self.interval_s = grace_s, interval_s
        self.on_derived, self.on_failed = on_derived, on_failed
        self._dirty: dict[str, float] = {}  # partition -> last write into it (wall clock)
        self._retry_at: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.derived = 0

    def start(self) -> HourCloser:
        self._recover()
        self._thread = threading.Thread(target=self._loop, name="driftline-run-hours", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def wrote(self, paths: list[str]) -> None:
        """The sink wrote these files: mark their span hours."""
        now = time.time()
        spans = f"{self.base}/spans/"
        with self._lock:
            for path in paths:
                if path.startswith(spans):
                    partition = path[len(spans) :].rpartition("/")[0]
                    if partition_start(partition) is not None:
                        self._dirty[partition] = now

    def pending(self) -> list[str]:
        with self._lock:
            return sorted(self._dirty)

    def run_due(self, now: float | None = None) -> int:
        """Derive every hour that is due; returns how many were derived."""
        now = time.time() if now is None else now
        with self._lock:
            due = [
                (p, last)
                for p, last in self._dirty.items()
                if now - max(self._end(p), last) >= self.grace_s and self._retry_at.get(p, 0.0) <= now
            ]
        done = 0
        for partition, marked in sorted(due):
            if self._stop.is_set():
                break
            files = self.own_files(partition)
            started = time.perf_counter()
            try:
                if files:
                    self.derive(partition, files)
            except Exception as exc:  # retried: the hour stays marked
                log.warning("deriving the runs of %s failed (%s); retrying in %.0f s", partition, exc, RETRY_S)
                with self._lock:
                    self._retry_at[partition] = time.time() + RETRY_S
                if self.on_failed:
                    self.on_failed()
                continue
            with self._lock:
                if self._dirty.get(partition) == marked:  # not written again meanwhile
                    del self._dirty[partition]
                self._retry_at.pop(partition, None)
            if files:
                done += 1
                self.derived += 1
                if self.on_derived:
                    self.on_derived(time.perf_counter() - started)
        return done

    def own_files(self, partition: str) -> list[str]:
        """This instance's finished span files of ``partition`` (not another receiver's, not compacted)."""
        directory = f"{self.base}/spans/{partition}"
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(directory))
        except FileNotFoundError:
            return []
        return sorted(
            i.path
            for i in infos
            if i.type == pafs.FileType.File
            and is_finished_parquet(i.path)
            and span_file_group(i.base_name) == self.instance_id
        )

    @staticmethod
    def _end(partition: str) -> float:
        start = partition_start(partition)
        return start.timestamp() + HOUR_S if start else 0.0

    def _recover(self) -> None:
        """Mark the hours this instance wrote recently (their runs may be missing or stale)."""
        directory = f"{self.base}/spans"
        if self.fs.get_file_info(directory).type != pafs.FileType.Directory:
            return
        horizon = time.time() - RECOVER_S
        for info in self.fs.get_file_info(pafs.FileSelector(directory, recursive=True)):
            if info.type != pafs.FileType.File or not is_finished_parquet(info.path):
                continue
            if span_file_group(info.base_name) != self.instance_id:
                continue
            mtime = info.mtime.timestamp() if info.mtime else 0.0
            partition = info.path[len(directory) + 1 :].rpartition("/")[0]
            if mtime >= horizon and partition_start(partition) is not None:
                with self._lock:
                    self._dirty[partition] = max(self._dirty.get(partition, 0.0), mtime)

    def _loop(self) -> None:
        _lowest_priority()
        while not self._stop.is_set():
            try:
                self.run_due()
            except Exception:  # never let the thread die: the next round tries again
                log.exception("deriving runs failed")
            self._wake.wait(self.interval_s)
            self._wake.clear()


def _lowest_priority() -> None:
    """Make the calling thread the machine's last claim on a core (Linux: nice 19 for this thread
    only). The derivation runs on this thread (one DuckDB thread executes on its caller), so ingest
    keeps its throughput at saturation; an hour left underived meanwhile is derived by its readers."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):  # not Linux, or not allowed: the derivation shares the cores
        log.debug("could not lower the priority of the run derivation thread")
