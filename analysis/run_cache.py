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
per-hour derivation: such traces are found from the derived files (a trace id in more than one),
their cut pieces are dropped and their runs derived whole — by a receiver already, or here
(``run_crossing.py``).

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
import os
import shutil
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pyarrow.fs as pafs

from driftline.analysis import run_crossing as crossing
from driftline.analysis import run_derivation as derivation
from driftline.analysis.cost import PriceTable
from driftline.analysis.run_derivation import Partition, list_partitions
from driftline.analysis.sql_literals import literal, literal_list
from driftline.analysis.views import insert_columns
from driftline.collector.schema import CACHE_DIR, CROSSING_DIR, RUNS_DIR, TMP_MARK, filesystem

BATCH_HOURS = 12
READERS = "readers"
ATTACH_ATTEMPTS = 5
ORPHAN_READER_S = 24 * 3600  # a reader directory this old is removed even if its process lives on
_LOCAL = pafs.LocalFileSystem()
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


def default_cache_dir(root: str) -> Path:
    """Next to the data for a local root; under the user's cache directory for an object store."""
    env = os.environ.get("DRIFTLINE_CACHE_DIR")
    if env:
        return Path(env) / hashlib.sha256(root.encode()).hexdigest()[:12]
    if "://" not in root:
        return Path(root) / CACHE_DIR
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "driftline"
    return base / hashlib.sha256(root.encode()).hexdigest()[:12]


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
        self.pieces_derived = 0  # runs of traces cut in two the last attach derived (not found derived)
        self.partitions: list[Partition] = []

    def _group(self, part: Partition) -> derivation.Group:
        return derivation.Group(part.name, part.name, tuple(f for f, _, _ in part.files), part.complete)

    def _local(self, path: str, *where: str) -> Path:
        """A file of the root as a local path: itself, or (an object store) a copy fetched into the cache
        once under ``where`` (the names fetched are digests of their content: a copy never goes stale)."""
        if self.local:
            return Path(path)
        target = self.dir.joinpath("ingested", *where, os.path.basename(path))
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=target.name + TMP_MARK, dir=target.parent)
            os.close(fd)
            pafs.copy_files(path, tmp, source_filesystem=self.fs)
            os.replace(tmp, target)
        return target

    def _ingested(self) -> dict[str, list[crossing.Derived]]:
        """The hours whose runs a receiver (or ``driftline runs rebuild``) derived and that still hold
        (see ``run_derivation.covering``), each with its runs files."""
        runs_files = derivation.list_runs_files(self.fs, self.base)
        if not runs_files:
            return {}
        found: dict[str, list[crossing.Derived]] = {}
        for part in self.partitions:
            chosen = derivation.covering(self.fs, part.files, runs_files.get(part.name, []), self.salt)
            if chosen is not None:
                found[part.name] = [
                    crossing.Derived(crossing.ident(part.name, i.base_name), str(self._local(i.path, part.name)))
                    for i in sorted(chosen, key=lambda i: i.base_name)
                ]
        return found

    def _target(self, part: Partition) -> Path:
        """Where the cache keeps the runs of ``part`` as its files are now."""
        return self.dir / "runs" / part.name / f"{part.key(self.salt)}.parquet"

    def _cached(self, part: Partition, target: Path) -> crossing.Derived:
        return crossing.Derived(crossing.ident(part.name, target.name, cached=True), str(target))

    def _list(self) -> dict[str, list[crossing.Derived]]:
        """Set ``partitions`` (the span hours) and return the hours a receiver derived. Files are only
        listed where derived runs vouch for them (a receiver's runs files name them; a cache file's key
        is their names, sizes and times); the other hours' footers are checked (an unreadable file is
        left out, which changes the hour's key)."""
        self.partitions = list_partitions(self.fs, self.base, inspect=False)
        ingested = self._ingested()
        vouched = set(ingested) | {p.name for p in self.partitions if self._target(p).exists()}
        others = [p.name for p in self.partitions if p.name not in vouched]
        if others:
            checked = {p.name: p for p in list_partitions(self.fs, self.base, self.root, others)}
            self.partitions = [
                p if p.name in vouched else checked[p.name]
                for p in self.partitions
                if p.name in vouched or p.name in checked
            ]
        return ingested

    def refresh(self) -> list[crossing.Derived]:
        """Derive every hour neither a receiver derived nor the cache holds; returns the files that
        hold the runs of every hour."""
        self.derived = []
        ingested = self._list()
        targets = {p.name: self._target(p) for p in self.partitions}
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
        return [f for p in self.partitions for f in ingested.get(p.name, [self._cached(p, targets[p.name])])]

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

    def _crossing(self, con: duckdb.DuckDBPyConnection, files: list[crossing.Derived]) -> crossing.Crossing:
        """The traces in more than one derived file (two hours, or two receivers' files of an hour), with
        their hours: from a memo of this state (the cache's, or a receiver's), else found with the help
        of the memo that saw most of these files (see ``run_crossing.find``), and remembered."""
        # the cache's memos name the root too: a cache directory given to readers of two roots never
        # lends one root's memo to the other (a receiver's memo lies in its root)
        scope = frozenset({f"root:{self.base}"})
        state = frozenset(f.ident for f in files) | scope
        memos = crossing.read_memos([(_LOCAL, str(self._crossing_dir)), (self.fs, self._root_crossing)])
        found = crossing.find(con, files, memos, scope=scope)
        if all(m.state != state for m in memos):
            written = crossing.write_memo(_LOCAL, str(self._crossing_dir), crossing.Memo(state, found))
            for stale in self._crossing_dir.glob("*.json"):  # a memo is a hint: the newest suffices
                if str(stale) != written:
                    stale.unlink(missing_ok=True)
        return found

    def _pieces(self, found: crossing.Crossing) -> Path:
        """The runs of the cut traces, in one file: a receiver's (``runs/_crossing/``) when it holds
        exactly these pieces, else the cache's, assembled from the pieces found in either and derived
        for the rest (unused files are swept once old: readers hold links)."""
        spans = {p.name: p for p in self.partitions}
        groups = crossing.by_hours(found)
        name = crossing.pieces_file(crossing.piece_name(self.salt, hs, ts, spans) for hs, ts in groups.items())
        at_root = f"{self._root_crossing}/{name}"
        if self.fs.get_file_info(at_root).type == pafs.FileType.File:
            return self._local(at_root, CROSSING_DIR)
        sources = [(self.fs, self._root_crossing), (_LOCAL, str(self._crossing_dir))]
        self.pieces_derived = crossing.assemble(
            groups, spans, self.root, self.prices, sources, (_LOCAL, str(self._crossing_dir))
        )
        crossing.sweep(_LOCAL, str(self._crossing_dir), {name})
        return self._crossing_dir / name

    @property
    def _crossing_dir(self) -> Path:
        return self.dir / "runs" / CROSSING_DIR

    @property
    def _root_crossing(self) -> str:
        return f"{self.base}/{RUNS_DIR}/{CROSSING_DIR}"

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

    def cached_only(self) -> list[crossing.Derived]:
        """The cached file of every hour as it is now, deriving nothing: the file of the hour's current
        key when there is one, else the hour's newest file (a refresh behind); hours never derived are
        left out. For a request that must not wait for a rebuild (the API refreshes in the background)."""
        self.derived = []
        ingested = self._list()
        chosen: list[crossing.Derived] = []
        for p in self.partitions:
            if p.name in ingested:
                chosen.extend(ingested[p.name])
                continue
            target = self._target(p)
            if target.exists():
                chosen.append(self._cached(p, target))
                continue
            present = sorted(target.parent.glob("*.parquet"), key=lambda f: f.stat().st_mtime_ns if f.exists() else 0)
            if present:
                chosen.append(self._cached(p, present[-1]))
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
        self.pieces_derived = 0
        if not cached:
            return False
        # every scan of runs opens each derived file: their footers are read once (the pinned links
        # are never rewritten, nor are span files, under one name)
        con.execute("SET parquet_metadata_cache = true")
        pinned = self._pin(con, [Path(d.path) for d in cached])
        con.execute(
            "CREATE OR REPLACE TEMP VIEW _cached_runs AS "
            f"SELECT * FROM read_parquet({literal_list(pinned)}, hive_partitioning = false)"
        )
        found = self._crossing(con, [crossing.Derived(d.ident, str(p)) for d, p in zip(cached, pinned, strict=True)])
        con.execute("CREATE OR REPLACE TEMP TABLE _crossing(trace_id VARCHAR)")
        union = ""
        if found:
            insert_columns(con, "_crossing", [[t for t, _ in found]], ["VARCHAR"])
            (pieces,) = self._pin(con, [self._pieces(found)])
            con.execute(
                "CREATE OR REPLACE TEMP VIEW _crossing_runs AS "
                f"SELECT * FROM read_parquet({literal(pieces)}, hive_partitioning = false)"
            )
            union = (
                "UNION ALL BY NAME SELECT * EXCLUDE (_partition, _source, _piece) FROM _crossing_runs "
                "WHERE run_id IS NOT NULL"
            )
        con.execute("DROP VIEW IF EXISTS runs")
        # a row without a run id is a trace that makes no run (it only tells where a trace's spans are)
        con.execute(
            "CREATE VIEW runs AS SELECT * EXCLUDE (_partition, _source) FROM _cached_runs "
            f"WHERE run_id IS NOT NULL AND trace_id NOT IN (SELECT trace_id FROM _crossing) {union}"
        )
        return True
