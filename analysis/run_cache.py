"""Runs derived once per hour partition and kept as Parquet, so a repeated diff reads, not recomputes.

Where a receiver already derived an hour's runs when it closed the hour (``runs/`` beside ``spans/``,
see ``run_derivation.py``), those files are read instead, provided they account for every span file
of the hour exactly once (a compacted file by the files it merged) and were derived with this
reader's salt; any other hour is derived here, as below. The cache is the fallback for roots written
by older receivers or other tools.

Why per partition: spans arrive into the current hour; older hours rarely change. Each hour's runs are
derived by the same SQL as the live ``runs`` view (``analysis/sql/runs.sql``), in a separate
connection whose ``spans`` view reads only that hour, and written under the cache directory with a key
made of the hour's file names, sizes and modification times, the SQL text and the price table — any
change (new file, compaction, new pricing) gives a new key and only that hour is derived again.

A trace whose spans fall into two hours (a run crossing the top of the hour) would be cut in two by
per-hour derivation: such traces are found from the cached files (a trace id cached under more than
one hour), their cached pieces are dropped and they are derived again from all of their hours.

Many processes share one cache (a scheduled report, the console, a CLI diff): every file is written
under a temporary name and renamed into place, and a refresher deletes what it replaced. So that a
deletion never pulls a file from under a reader, a connection reads *hard links* to the files it
chose, in a directory of its own (``readers/<pid>-<id>/``), removed when the process exits or, for
a process that died, by the next refresher; an attach that loses a race (a file renamed away
between listing and linking, a span file compacted away mid-derivation) starts over.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.fs as pafs

import driftline.collector.inventory as inventory
from driftline.analysis import run_derivation as derivation
from driftline.analysis.cost import PriceTable
from driftline.analysis.sql_literals import literal, literal_list
from driftline.collector.schema import (
    SPAN_SCHEMA,
    TMP_MARK,
    filesystem,
)

BATCH_HOURS = 12
READERS = "readers"
ATTACH_ATTEMPTS = 5
ORPHAN_READER_S = 24 * 3600  # a reader directory this old is removed even if its process lives on
_PINNED: list[Path] = []  # this process's reader directories, removed at exit
_PINS_BY_CONNECTION: dict[int, list[Path]] = {}  # id(connection) -> its reader directories


def release(con: duckdb.DuckDBPyConnection) -> None:
    """Close ``con`` and remove the links it read through (long-lived processes call this when done
    with a connection, so replaced cache files are not kept alive by old links)."""
    con.close()
    for d in _PINS_BY_CONNECTION.pop(id(con), []):
        shutil.rmtree(d, ignore_errors=True)
        if d in _PINNED:
            _PINNED.remove(d)


@atexit.register
def _unpin_all() -> None:
    for d in _PINNED:
        shutil.rmtree(d, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Partition:
    name: str  # date=YYYY-MM-DD/hour=HH
    files: tuple[tuple[str, int, int], ...]  # (path, size, mtime_ns)
    complete: bool = True  # every file has every span column (else missing ones are read as NULL)

    def key(self, salt: str) -> str:
        digest = hashlib.sha256(salt.encode())
        for path, size, mtime in self.files:
            digest.update(f"{os.path.basename(path)}:{size}:{mtime}\n".encode())
        return digest.hexdigest()[:20]


def default_cache_dir(root: str) -> Path:
    """Next to the data for a local root; under the user's cache directory for an object store."""
    env = os.environ.get("DRIFTLINE_CACHE_DIR")
    if env:
        return Path(env) / hashlib.sha256(root.encode()).hexdigest()[:12]
    if "://" not in root:
        return Path(root) / "_cache"
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "driftline"
    return base / hashlib.sha256(root.encode()).hexdigest()[:12]


def list_partitions(fs: pafs.FileSystem, base: str, root: str | None = None) -> list[Partition]:
    """The span hours of the root path ``base``, each with its readable files (unreadable ones are
    left out, named once on stderr with ``root``)."""
    found = inventory.scan(fs, base, "spans")
    if root is not None:
        inventory.warn(found.unreadable, root)
    return [
        Partition(
            name,
            tuple((f.path, f.size, f.mtime_ns) for f in files),
            not inventory.Inventory(files).lacks(SPAN_SCHEMA.names),
        )
        for name, files in sorted(found.by_partition().items())
    ]


class RunCache:
    """Derives missing hours and points a connection's ``runs`` view at the cached files."""

    def __init__(self, root: str, prices: PriceTable, cache_dir: str | Path | None = None) -> None:
        self.root = root
        self.prices = prices
        self.fs, self.base = filesystem(root)
        self.local = isinstance(self.fs, pafs.LocalFileSystem)
        self.dir = Path(cache_dir) if cache_dir else default_cache_dir(root)
        self.salt = derivation.salt(prices)
        self.derived: list[str] = []  # partitions derived by the last attach (for tests and --verbose)
        self.partitions: list[Partition] = []

    def _group(self, part: Partition) -> derivation.Group:
        return derivation.Group(part.name, part.name, tuple(f for f, _, _ in part.files), part.complete)

    def _ingested(self) -> dict[str, list[Path]]:
        """The hours whose runs a receiver (or ``driftline runs rebuild``) derived and that still hold
        (see ``run_derivation.covering``), each with its runs files — local paths: files of an object
        store are fetched into the cache once (their names change with their content)."""
        runs_files = derivation.list_runs_files(self.fs, self.base)
        if not runs_files:
            return {}
        found: dict[str, list[Path]] = {}
        for part in self.partitions:
            chosen = derivation.covering(self.fs, part.files, runs_files.get(part.name, []), self.salt)
            if chosen is None:
                continue
            if self.local:
                found[part.name] = [Path(i.path) for i in chosen]
                continue
            local = []
            for info in chosen:
                target = self.dir / "ingested" / part.name / info.base_name
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    fd, tmp = tempfile.mkstemp(prefix=target.name + TMP_MARK, dir=target.parent)
                    os.close(fd)
                    pafs.copy_files(info.path, tmp, source_filesystem=self.fs)
                    os.replace(tmp, target)
                local.append(target)
            found[part.name] = local
        return found

    def refresh(self) -> list[Path]:
        """Derive every hour neither a receiver derived nor the cache holds; returns the files that
        hold the runs of every hour."""
        self.derived = []
        self.partitions = list_partitions(self.fs, self.base, self.root)
        ingested = self._ingested()
        targets = {p.name: self.dir / "runs" / p.name / f"{p.key(self.salt)}.parquet" for p in self.partitions}
        missing = [p for p in self.partitions if p.name not in ingested and not targets[p.name].exists()]
        # a batch of hours per query: one query per hour pays a fixed cost per hour, one query for a
        # whole month needs memory in proportion; BATCH_HOURS balances the two
        batches = [missing[i : i + BATCH_HOURS] for i in range(0, len(missing), BATCH_HOURS)]
        workers = min(len(batches), os.cpu_count() or 1)
        if workers <= 1:
            for batch in batches:
                self._derive_batch(batch, targets, threads=None)
        else:  # batches in parallel, one DuckDB thread each: small queries use two threads poorly
            with ThreadPoolExecutor(workers) as pool:
                for _ in pool.map(lambda b: self._derive_batch(b, targets, threads=1), batches):
                    pass
        self.derived = [p.name for p in missing]
        return [f for p in self.partitions for f in ingested.get(p.name, [targets[p.name]])]

    def _derive_batch(self, batch: list[Partition], targets: dict[str, Path], threads: int | None) -> None:
        con = derivation.derive(self.fs, [self._group(p) for p in batch], self.prices, threads)
        try:
            for part in batch:
                derivation.copy_local(
                    con, f"SELECT * FROM _runs WHERE _partition = {literal(part.name)}", targets[part.name]
                )
                for stale in targets[part.name].parent.glob("*.parquet"):
                    if stale != targets[part.name]:
                        stale.unlink(missing_ok=True)
        finally:
            con.close()

    def _crossing_runs(self, crossing: list[tuple[str, list[str]]]) -> Path:
        """Runs of the traces cut by an hour boundary or between receivers, derived from all the span
        files of all their hours; cached under a key of those hours' keys and the trace ids, so a warm
        diff reads them too."""
        hours = sorted({p for _, parts in crossing for p in parts})
        by_name = {p.name: p for p in self.partitions}
        digest = hashlib.sha256(self.salt.encode())
        for h in hours:
            digest.update(f"{h}:{by_name[h].key(self.salt) if h in by_name else '-'}\n".encode())
        for trace, _ in crossing:
            digest.update(trace.encode())
        target = self.dir / "runs" / "_crossing" / f"{digest.hexdigest()[:20]}.parquet"
        if target.exists():
            return target
        for stale in target.parent.glob("*.parquet"):
            stale.unlink(missing_ok=True)  # readers hold links: deleting the name is safe
        files = tuple(f for h in hours if h in by_name for f, _, _ in by_name[h].files)
        complete = all(by_name[h].complete for h in hours if h in by_name)
        group = derivation.Group("*", "*", files, complete)
        con = derivation.derive(self.fs, [group], self.prices, traces=[t for t, _ in crossing])
        try:
            derivation.copy_local(con, "SELECT * FROM _runs", target)
        finally:
            con.close()
        return target

    def _crossing_traces(self, con: duckdb.DuckDBPyConnection, cached: list[Path]) -> list[tuple[str, list[str]]]:
        """Trace ids in more than one derived file (two hours, or two receivers' files of an hour), with
        their hours; remembered per state of the cache (the set of its files), so a warm diff does not
        scan every trace id again."""
        state = hashlib.sha256("\n".join(str(p) for p in cached).encode()).hexdigest()[:20]
        memo = self.dir / "runs" / "_crossing" / f"{state}.json"
        try:
            return [(t, parts) for t, parts in json.loads(memo.read_text())]
        except (OSError, ValueError):  # not there (or replaced while read): compute it
            pass
        crossing = con.execute(
            "SELECT trace_id, list(DISTINCT _partition ORDER BY _partition) FROM _cached_runs GROUP BY trace_id "
            "HAVING count(DISTINCT _source) > 1 ORDER BY trace_id"
        ).fetchall()
        memo.parent.mkdir(parents=True, exist_ok=True)
        for stale in memo.parent.glob("*.json"):
            if stale != memo:
                stale.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=memo.name + TMP_MARK, dir=memo.parent)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(crossing))
        os.replace(tmp, memo)  # a concurrent reader sees the old memo or the whole new one
        return [(t, list(parts)) for t, parts in crossing]

    def _pin(self, con: duckdb.DuckDBPyConnection, files: list[Path]) -> list[Path]:
        """Hard links to ``files`` in a reader directory of this connection's own: another refresher
        may delete or replace the originals; the links keep what this connection read."""
        self._sweep_readers()
        d = self.dir / READERS / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        d.mkdir(parents=True)
        _PINNED.append(d)
        _PINS_BY_CONNECTION.setdefault(id(con), []).append(d)
        pinned = []
        for i, f in enumerate(files):
            link = d / f"{i}.parquet"
            try:
                os.link(f, link)
            except FileNotFoundError:
                raise
            except OSError:  # no hard links on this file system: a copy is as safe, only slower
                shutil.copyfile(f, link)
            pinned.append(link)
        return pinned

    def _sweep_readers(self) -> None:
        """Remove reader directories of processes that are gone (or of any process, after a day)."""
        base = self.dir / READERS
        if not base.is_dir():
            return
        now = time.time()
        for d in base.iterdir():
            pid = d.name.split("-", 1)[0]
            try:
                stale = not pid.isdigit() or not _alive(int(pid)) or now - d.stat().st_mtime > ORPHAN_READER_S
            except FileNotFoundError:
                continue
            if stale and d not in _PINNED:
                shutil.rmtree(d, ignore_errors=True)

    def cached_only(self) -> list[Path]:
        """The cached file of every hour as it is now, deriving nothing: the file of the hour's current
        key when there is one, else the hour's newest file (a refresh behind); hours never derived are
        left out. For a request that must not wait for a rebuild (the API refreshes in the background)."""
        self.derived = []
        self.partitions = list_partitions(self.fs, self.base, self.root)
        ingested = self._ingested()
        chosen: list[Path] = []
        for p in self.partitions:
            if p.name in ingested:
                chosen.extend(ingested[p.name])
                continue
            target = self.dir / "runs" / p.name / f"{p.key(self.salt)}.parquet"
            if target.exists():
                chosen.append(target)
                continue
            present = sorted(target.parent.glob("*.parquet"), key=lambda f: f.stat().st_mtime_ns if f.exists() else 0)
            if present:
                chosen.append(present[-1])
        return chosen

    def attach(self, con: duckdb.DuckDBPyConnection, refresh: bool = True) -> bool:
        """Define ``con``'s ``runs`` view over the cached hours plus re-derived cross-hour traces;
        False when there is nothing to cache (an empty root). Retried when a concurrent refresher or
        a compaction moved a file away mid-way. ``refresh=False``: use the cache as it is."""
        for attempt in range(ATTACH_ATTEMPTS):
            try:
                return self._attach(con, refresh)
            except (FileNotFoundError, duckdb.IOException):
                if attempt == ATTACH_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        return False

    def _attach(self, con: duckdb.DuckDBPyConnection, refresh: bool) -> bool:
        """(_cached_runs: every derived file, pinned; _crossing: the traces re-derived whole.)"""
        cached = self.refresh() if refresh else self.cached_only()
        if not cached:
            return False
        crossing_source = cached  # the memo of cross-hour traces is keyed on the cache's own files
        pinned = self._pin(con, cached)
        con.execute(
            "CREATE OR REPLACE TEMP VIEW _cached_runs AS "
            f"SELECT * FROM read_parquet({literal_list(pinned)}, hive_partitioning = false)"
        )
        crossing = self._crossing_traces(con, crossing_source)
        con.execute("CREATE OR REPLACE TEMP TABLE _crossing(trace_id VARCHAR)")
        union = ""
        if crossing:
            con.executemany("INSERT INTO _crossing VALUES (?)", [[t] for t, _ in crossing])
            (target,) = self._pin(con, [self._crossing_runs(crossing)])
            con.execute(
                "CREATE OR REPLACE TEMP VIEW _crossing_runs AS "
                f"SELECT * FROM read_parquet({literal(target)}, hive_partitioning = false)"
            )
            union = (
                "UNION ALL BY NAME SELECT * EXCLUDE (_partition, _source) FROM _crossing_runs WHERE run_id IS NOT NULL"
            )
        con.execute("DROP VIEW IF EXISTS runs")
        # a row without a run id is a trace that makes no run (it only tells where a trace's spans are)
        con.execute(
            "CREATE VIEW runs AS SELECT * EXCLUDE (_partition, _source) FROM _cached_runs "
            f"WHERE run_id IS NOT NULL AND trace_id NOT IN (SELECT trace_id FROM _crossing) {union}"
        )
        return True
