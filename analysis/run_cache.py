"""Runs derived once per hour partition and kept as Parquet, so a repeated diff reads, not recomputes.

Why per partition: spans arrive into the current hour; older hours rarely change. Each hour's runs are
derived by the same SQL as the live ``runs`` view (``analysis/sql/runs.sql``), in a separate
connection whose ``spans`` view reads only that hour, and written under the cache directory with a key
made of the hour's file names, sizes and modification times, the SQL text and the price table — any
change (new file, compaction, new pricing) gives a new key and only that hour is derived again.

A trace whose spans fall into two hours (a run crossing the top of the hour) would be cut in two by
per-hour derivation: such traces are found from the cached files (a trace id cached under more than
one hour), their cached pieces are dropped and they are derived again from all of their hours.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from driftline.analysis.cost import PriceTable, register_prices
from driftline.analysis.db import SQL_DIR, define_views, new_connection
from driftline.collector.sink.parquet import TMP_MARK, filesystem

RUN_VIEWS = ("spans", "llm_calls", "tool_calls", "llm_call_costs", "runs")
CACHE_FORMAT = "1"


@dataclass(frozen=True)
class Partition:
    name: str  # date=YYYY-MM-DD/hour=HH
    files: tuple[tuple[str, int, int], ...]  # (path, size, mtime_ns)

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


def list_partitions(fs: pafs.FileSystem, spans_dir: str) -> list[Partition]:
    info = fs.get_file_info(spans_dir)
    if info.type != pafs.FileType.Directory:
        return []
    grouped: dict[str, list[tuple[str, int, int]]] = {}
    for entry in fs.get_file_info(pafs.FileSelector(spans_dir, recursive=True)):
        if entry.type != pafs.FileType.File or not entry.path.endswith(".parquet") or TMP_MARK in entry.path:
            continue
        rel = entry.path[len(spans_dir) :].strip("/").split("/")
        if len(rel) != 3 or not rel[0].startswith("date=") or not rel[1].startswith("hour="):
            continue
        mtime = entry.mtime_ns if entry.mtime_ns is not None else 0
        grouped.setdefault(f"{rel[0]}/{rel[1]}", []).append((entry.path, entry.size or 0, mtime))
    return [Partition(name, tuple(sorted(files))) for name, files in sorted(grouped.items())]


class RunCache:
    """Derives missing hours and points a connection's ``runs`` view at the cached files."""

    def __init__(self, root: str, prices: PriceTable, cache_dir: str | Path | None = None) -> None:
        self.root = root
        self.prices = prices
        self.fs, self.base = filesystem(root)
        self.local = isinstance(self.fs, pafs.LocalFileSystem)
        self.dir = Path(cache_dir) if cache_dir else default_cache_dir(root)
        sql = "".join((SQL_DIR / f"{v}.sql").read_text() for v in RUN_VIEWS)
        self.salt = json.dumps([CACHE_FORMAT, sql, self.prices.rows], sort_keys=True)
        self.derived: list[str] = []  # partitions derived by the last attach (for tests and --verbose)

    def _source(self, con: duckdb.DuckDBPyConnection, files: list[str], where: str = "") -> str:
        if self.local:
            listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
            scan = f"read_parquet([{listed}], hive_partitioning = true, union_by_name = true)"
        else:
            dataset = ds.dataset(
                files,
                filesystem=self.fs,
                format="parquet",
                partitioning="hive",
                partition_base_dir=f"{self.base}/spans",
            )
            name = f"_spans_{len(con.execute('SHOW TABLES').fetchall())}"
            con.register(name, dataset)
            scan = name
        return f"(SELECT * FROM {scan} {where})" if where else scan

    def _derive(self, files: list[str], target: Path, partition: str, where: str = "") -> None:
        """Write the runs of ``files`` (optionally only some traces) to ``target`` atomically."""
        con = new_connection()
        try:
            register_prices(con, self.prices)
            define_views(con, {"spans": self._source(con, files, where)}, RUN_VIEWS)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=target.name + TMP_MARK, dir=target.parent)
            os.close(fd)
            literal = partition.replace("'", "''")
            tmp_sql = tmp.replace("'", "''")
            con.execute(
                f"COPY (SELECT *, '{literal}' AS _partition FROM runs) TO '{tmp_sql}' "
                "(FORMAT parquet, COMPRESSION zstd)"
            )
            os.replace(tmp, target)
        finally:
            con.close()

    def refresh(self) -> list[Path]:
        """Derive every hour whose key is not cached; returns the cached files, one per hour."""
        self.derived = []
        files = []
        for part in list_partitions(self.fs, f"{self.base}/spans"):
            directory = self.dir / "runs" / part.name
            target = directory / f"{part.key(self.salt)}.parquet"
            if not target.exists():
                self._derive([f for f, _, _ in part.files], target, part.name)
                self.derived.append(part.name)
                for stale in directory.glob("*.parquet"):
                    if stale != target:
                        stale.unlink(missing_ok=True)
            files.append(target)
        return files

    def attach(self, con: duckdb.DuckDBPyConnection) -> None:
        """Replace ``con``'s live ``runs`` view by the cached hours plus re-derived cross-hour traces."""
        cached = self.refresh()
        if not cached:
            return
        listed = ", ".join("'" + str(p).replace("'", "''") + "'" for p in cached)
        con.execute(
            "CREATE OR REPLACE TEMP VIEW _cached_runs AS "
            f"SELECT * FROM read_parquet([{listed}], hive_partitioning = false)"
        )
        crossing = con.execute(
            "SELECT trace_id, list(DISTINCT _partition) FROM _cached_runs GROUP BY trace_id "
            "HAVING count(DISTINCT _partition) > 1"
        ).fetchall()
        con.execute("CREATE OR REPLACE TEMP TABLE _crossing(trace_id VARCHAR)")
        union = ""
        if crossing:
            con.executemany("INSERT INTO _crossing VALUES (?)", [[t] for t, _ in crossing])
            hours = sorted({p for _, parts in crossing for p in parts})
            by_name = {p.name: p for p in list_partitions(self.fs, f"{self.base}/spans")}
            files = [f for h in hours if h in by_name for f, _, _ in by_name[h].files]
            target = Path(tempfile.mkdtemp(prefix="driftline-runs-")) / "crossing.parquet"
            ids = ", ".join("'" + t.replace("'", "''") + "'" for t, _ in crossing)
            self._derive(files, target, "*", where=f"WHERE trace_id IN ({ids})")
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _crossing_runs AS "
                f"SELECT * FROM read_parquet('{target}', hive_partitioning = false)"
            )
            target.unlink()
            target.parent.rmdir()
            union = "UNION ALL BY NAME SELECT * EXCLUDE (_partition) FROM _crossing_runs"
        con.execute("DROP VIEW runs")
        con.execute(
            "CREATE VIEW runs AS SELECT * EXCLUDE (_partition) FROM _cached_runs "
            f"WHERE trace_id NOT IN (SELECT trace_id FROM _crossing) {union}"
        )
