"""The long-running scheduler: each report at its cron slots, a missed slot caught up once, no slot
run twice, and no two runs of one report at the same time (also across processes: ``--once`` from a
system cron and the daemon share a file lock per report).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from croniter import croniter

from driftline.analysis.schedule import history
from driftline.analysis.schedule.entries import ReportEntry
from driftline.analysis.schedule.runner import run_entry

log = logging.getLogger("driftline.schedule")


def _latest_slot(cron: str, now: datetime) -> datetime:
    """The latest slot at or before ``now`` (a slot exactly at ``now`` counts)."""
    return croniter(cron, now + timedelta(microseconds=1)).get_prev(datetime)


class Busy(RuntimeError):
    """Another run of the report holds its lock."""


@contextmanager
def report_lock(lock_dir: Path, name: str) -> Any:
    lock_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_dir / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise Busy(f"report {name} is already running") from exc
        yield
    finally:
        os.close(fd)


def lock_dir_for(root: str) -> Path:
    if "://" not in root:
        return Path(root) / "_schedule" / "locks"
    from driftline.analysis.run_cache import default_cache_dir

    return default_cache_dir(root) / "locks"


class Scheduler:
    def __init__(self, root: str, entries: dict[str, ReportEntry], doc: dict[str, Any], pricing: str | None = None):
        self.root, self.entries, self.doc, self.pricing = root, entries, doc, pricing
        self.locks = lock_dir_for(root)
        self.stop = threading.Event()

    def done_slots(self, name: str) -> set[str]:
        return {r["slot"] for r in history.read(self.root, name)}

    def run(self, name: str, slot: datetime) -> history.HistoryRow | None:
        """Run one report for one slot unless that slot is done or the report is running."""
        slot_text = slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            with report_lock(self.locks, name):
                # checked under the lock: a process that finished this slot while we waited for the
                # lock has recorded it by now, so the slot never runs twice
                if slot_text in self.done_slots(name):
                    log.info("report %s slot %s already ran: skipped", name, slot_text)
                    return None
                return run_entry(self.root, self.entries[name], slot, self.doc, self.pricing)
        except Busy as exc:
            log.warning("%s: slot %s skipped", exc, slot_text)
            return None

    def catch_up(self, now: datetime) -> list[history.HistoryRow]:
        """After downtime: each report that has run before and missed its latest slot runs it once."""
        rows = []
        for name, entry in self.entries.items():
            latest = _latest_slot(entry.cron, now)
            done = self.done_slots(name)
            if not done:
                continue  # a new report waits for its first slot
            last = max(done)
            if last < latest.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"):
                log.info("report %s missed slot %s: catching up once", name, latest.isoformat())
                row = self.run(name, latest)
                if row:
                    rows.append(row)
        return rows

    def next_slots(self, now: datetime) -> dict[str, datetime]:
        return {name: croniter(e.cron, now).get_next(datetime) for name, e in self.entries.items()}

    def run_pending(self, previous: datetime, now: datetime) -> list[history.HistoryRow]:
        """Run every slot in (previous, now] — at most the latest one per report."""
        rows = []
        for name, entry in self.entries.items():
            slot = _latest_slot(entry.cron, now)
            if previous < slot <= now:
                row = self.run(name, slot)
                if row:
                    rows.append(row)
        return rows

    def serve(self, clock: Any = None) -> None:
        """Until stopped: sleep to the next slot, run what is due."""
        clock = clock or (lambda: datetime.now(UTC))
        now = clock()
        self.catch_up(now)
        previous = now
        while not self.stop.is_set():
            upcoming = self.next_slots(previous)
            wake = min(upcoming.values()) if upcoming else None
            if wake is None:
                return
            for name, at in sorted(upcoming.items(), key=lambda kv: kv[1]):
                log.info("next: %s at %s", name, at.isoformat())
            self.stop.wait(max(0.0, (wake - clock()).total_seconds()))
            now = clock()
            self.run_pending(previous, now)
            previous = now
