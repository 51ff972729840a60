"""Runs from spans: the one derivation behind every ``runs`` row that is not computed live.

Two callers run it. The run cache (``run_cache.py``) derives, at query time, the hours nobody derived
yet; a receiver (``collector/run_hours.py`` calls ``derive_group``, handed to it by ``driftline
serve``) derives the runs of its own span files when it closes an hour, and ``driftline runs rebuild``
does the same on demand. Both use the SQL of the live ``runs`` view (``analysis/sql/runs.sql`` and
the views it reads) over a narrow, deduplicated span table, so a derived row equals the live one.

Every derived file also holds one row per trace that makes no run (``run_id`` NULL, a "stub"): a
reader that finds one trace in two derived files (two hours, or two receivers) knows its runs were
cut and derives that trace again from all its spans — even when the part elsewhere is a plain span.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pyarrow.fs as pafs

import driftline.collector.inventory as inventory
from driftline.analysis import cost
from driftline.analysis.cost import PriceTable, register_prices
from driftline.analysis.sql_literals import literal
from driftline.analysis.views import SQL_DIR, define_views, insert_columns, new_connection, read_parquet, typed
from driftline.collector.schema import (
    COMPACTED_FROM_KEY,
    COMPACTED_PREFIX,
    COPY_KEY,
    COPY_ORDER,
    FIRST_COPY_WINDOW,
    RUNS_DIR,
    RUNS_SALT_KEY,
    RUNS_SOURCES_KEY,
    SPAN_SCHEMA,
    TMP_MARK,
    filesystem,
    first_copies_sql,
    is_runs_file_of,
    runs_file_name,
    runs_file_parts,
    span_file_group,
)

RUN_VIEWS = ("spans", "llm_calls", "tool_calls", "llm_call_costs", "runs")
_RUN_SQL = "".join((SQL_DIR / f"{v}.sql").read_text() for v in RUN_VIEWS)
# The span columns the run SQL reads (found in its text, so a column added to runs.sql is picked up)
# and those the copy rule orders by: the per-derivation span table holds only these, which halves what
# every join and sort moves.
RUN_COLUMNS = tuple(
    f.name
    for f in SPAN_SCHEMA
    if (re.search(rf"\b{f.name}\b", _RUN_SQL) or f.name in (*COPY_KEY, *COPY_ORDER)) and f.name != "trace_id"
)
DERIVATION_FORMAT = "3"  # bumped when a derived file's columns or meaning change
MAX_LISTED_TRACES = 5000  # up to this many traces, a derivation filters by a list (the scan skips the rest)
INGEST_MEMORY_LIMIT = "384MB"  # a receiver's derivation: the rest of the machine is ingest's
SPANS_PER_PASS = 150_000  # spans derived at once under a memory limit (see _passes)


def salt(prices: PriceTable) -> str:
    """Everything a derived row depends on besides the spans: the SQL, the copy rule, the prices and
    how calls are matched to them. A derived file whose salt differs is not used."""
    rule = [cost.MODEL_NAMESPACE, cost.SNAPSHOT_SUFFIX, cost.PROVIDER_ALIASES]
    return json.dumps([DERIVATION_FORMAT, _RUN_SQL, FIRST_COPY_WINDOW, prices.rows, rule], sort_keys=True)


def salt_digest(the_salt: str) -> str:
    """What a derived file's footer records of the salt (the salt itself holds the whole SQL)."""
    return hashlib.sha256(the_salt.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Group:
    """Span files whose runs are derived together, and what the derived rows are labelled with."""

    partition: str  # the hour (date=…/hour=…), or "*" for a derivation across hours
    source: str  # the ``_source`` of its rows: one value per derived file
    files: tuple[str, ...]
    complete: bool = True  # every file has every span column (else missing ones are read as NULL)


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


def list_partitions(
    fs: pafs.FileSystem,
    base: str,
    root: str | None = None,
    partitions: Sequence[str] | None = None,
    inspect: bool = True,
) -> list[Partition]:
    """The span hours of the root path ``base`` (only ``partitions`` when given), each with its
    readable files (unreadable ones are left out, named once on stderr with ``root``). With
    ``inspect=False`` every finished file is listed, footers unread: for hours whose derived runs
    vouch for their files (``covering``), which are then neither derived nor checked."""
    found = inventory.scan(fs, base, "spans", partitions, inspect)
    if root is not None:
        inventory.warn(found.unreadable, root)
    return [
        Partition(
            name,
            tuple((f.path, f.size, f.mtime_ns) for f in files),
            inspect and not inventory.Inventory(files).lacks(SPAN_SCHEMA.names),
        )
        for name, files in sorted(found.by_partition().items())
    ]


def derive(
    fs: pafs.FileSystem,
    groups: Sequence[Group],
    prices: PriceTable,
    threads: int | None = None,
    traces: list[str] | None = None,
    memory_limit: str | None = None,
    bucket: tuple[int, int] | None = None,
) -> duckdb.DuckDBPyConnection:
    """A connection holding ``_runs``: the runs (and stubs) of each group, derived from that group's
    spans only, with ``_partition`` and ``_source`` columns; only the traces in ``traces`` when given,
    and with ``bucket`` (i, n) only those whose trace id hashes to i of n (a trace is whole in one).
    With ``memory_limit``, what does not fit spills to a temporary directory instead of growing."""
    con = new_connection(threads, memory_limit)
    if memory_limit:
        con.execute("SET temp_directory = ?", [os.path.join(tempfile.gettempdir(), f"driftline-runs-{os.getpid()}")])
    register_prices(con, prices)
    where, params = "", []
    if traces is not None and len(traces) <= MAX_LISTED_TRACES:  # a list the scan filters by: no join
        where, params = f"WHERE trace_id IN ({', '.join('?' * len(traces))})", list(traces)
    elif traces is not None:
        con.execute("CREATE TEMP TABLE _wanted(trace_id VARCHAR)")
        insert_columns(con, "_wanted", [list(traces)], ["VARCHAR"])
        where = "WHERE trace_id IN (SELECT trace_id FROM _wanted)"
    if bucket is not None:
        clause = f"hash(trace_id) % {int(bucket[1])} = {int(bucket[0])}"
        where = f"{where} AND {clause}" if where else f"WHERE {clause}"
    local = isinstance(fs, pafs.LocalFileSystem)
    columns = ", ".join(RUN_COLUMNS)  # named, not *: the scan then reads only these
    frames = []
    for i, group in enumerate(groups):
        if local:
            source = read_parquet(list(group.files), hive=False)
            source = source if group.complete else typed(con, "spans", source)
        else:
            source = f"_group_{i}"
            con.register(source, ds.dataset(list(group.files), filesystem=fs, format="parquet"))
        # the group's index prefixes the trace id, so one query derives many groups apart
        # one copy of each span, by the schema's rule, within the group: copies of a span in two groups
        # (two hours, two receivers) put its trace in both, and a reader derives that trace whole
        frames.append(
            f"SELECT {literal(f'{i}|')} || trace_id AS trace_id, {columns} "
            f"FROM ({first_copies_sql(f'(SELECT trace_id, {columns} FROM {source} {where})')})"
        )
    # the spans once, only the columns runs need: every view below reads this table
    con.execute(f"CREATE TEMP TABLE _spans AS {' UNION ALL BY NAME '.join(frames)}", params * len(groups))
    con.execute("CREATE VIEW spans AS SELECT * FROM _spans")
    define_views(con, {}, RUN_VIEWS[1:])
    con.execute("CREATE TEMP TABLE _labels(i VARCHAR, _partition VARCHAR, _source VARCHAR)")
    insert_columns(
        con,
        "_labels",
        [[str(i) for i in range(len(groups))], [g.partition for g in groups], [g.source for g in groups]],
        ["VARCHAR", "VARCHAR", "VARCHAR"],
    )
    con.execute("CREATE TEMP TABLE _derived AS SELECT * FROM runs")  # once: read twice below
    con.execute(
        """CREATE TEMP TABLE _runs AS
        WITH derived AS (
            SELECT * REPLACE (split_part(run_id, '|', 2) AS run_id, split_part(trace_id, '|', 2) AS trace_id),
                   split_part(trace_id, '|', 1) AS i
            FROM _derived
            UNION ALL BY NAME
            SELECT split_part(trace_id, '|', 2) AS trace_id, split_part(trace_id, '|', 1) AS i
            FROM (SELECT DISTINCT trace_id FROM _spans EXCEPT SELECT DISTINCT trace_id FROM _derived)
        )
        SELECT d.* EXCLUDE (i), l._partition, l._source FROM derived d JOIN _labels l USING (i)"""
    )
    con.execute("DROP TABLE _derived")
    return con


def copy_local(
    con: duckdb.DuckDBPyConnection, query: str, target: Path, metadata: dict[bytes, str] | None = None
) -> None:
    """``query`` written to ``target`` as Parquet: under a temporary name, then renamed (a reader sees
    the whole file or none)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name + TMP_MARK, dir=target.parent)
    os.close(fd)
    _copy(con, query, tmp, metadata)
    os.replace(tmp, target)


def _copy(con: duckdb.DuckDBPyConnection, query: str, path: str, metadata: dict[bytes, str] | None) -> None:
    kv = ""
    if metadata:  # a COPY option is text, not a parameter: the values are quoted here
        kv = ", KV_METADATA {" + ", ".join(f"{literal(k.decode())}: {literal(v)}" for k, v in metadata.items()) + "}"
    con.execute(f"COPY ({query}) TO ? (FORMAT parquet, COMPRESSION zstd{kv})", [path])


def derive_group(
    root: str,
    partition: str,
    files: Sequence[str],
    group: str,
    prices: PriceTable,
    threads: int | None = 1,
    memory_limit: str | None = INGEST_MEMORY_LIMIT,
) -> str:
    """Derive the runs of ``files`` (span files of one hour of ``root``, all of ``group``) and write
    them as ``runs/<partition>/<group>-r<digest>.parquet``, replacing the group's earlier file of the
    hour; returns its path. What a receiver runs when it closes an hour (one DuckDB thread and bounded
    memory, spilling beyond it: ingest keeps the rest) and what ``driftline runs rebuild`` runs."""
    fs, base = filesystem(root)
    infos = fs.get_file_info(list(files))
    missing = [i.path for i in infos if i.type != pafs.FileType.File]
    if missing:
        raise FileNotFoundError(f"span file {missing[0]} is gone (compacted or erased meanwhile)")
    sources = {os.path.basename(i.path): i.size for i in infos}
    the_salt = salt(prices)
    digest = sources_digest(the_salt, sources)
    directory = f"{base}/{RUNS_DIR}/{partition}"
    target = f"{directory}/{runs_file_name(group, digest)}"
    names = _runs_files(fs, directory)
    if os.path.basename(target) not in names:
        group_files = [Group(partition, f"{partition}/{group}", tuple(i.path for i in infos))]
        passes = _passes(fs, infos) if memory_limit else 1
        metadata = {RUNS_SOURCES_KEY: json.dumps(sources, sort_keys=True), RUNS_SALT_KEY: salt_digest(the_salt)}
        with tempfile.TemporaryDirectory(prefix="driftline-runs-") as tmp:
            if passes == 1:
                con, query = derive(fs, group_files, prices, threads, memory_limit=memory_limit), "SELECT * FROM _runs"
            else:  # the run aggregates do not spill: a busy hour is derived a slice of its traces at a time
                slices = [os.path.join(tmp, f"slice-{i}.parquet") for i in range(passes)]
                for i, path in enumerate(slices):
                    part = derive(fs, group_files, prices, threads, memory_limit=memory_limit, bucket=(i, passes))
                    try:
                        _copy(part, "SELECT * FROM _runs", path, None)  # the writer's types, as one pass has
                    finally:
                        part.close()
                con, query = new_connection(threads, memory_limit), f"SELECT * FROM read_parquet({literal(slices)})"
            try:
                if isinstance(fs, pafs.LocalFileSystem):
                    copy_local(con, query, Path(target), metadata)
                else:  # an object store: written here, then put whole (a PUT is atomic)
                    local = os.path.join(tmp, "runs.parquet")
                    _copy(con, query, local, metadata)
                    fs.create_dir(directory, recursive=True)
                    pafs.copy_files(local, target, destination_filesystem=fs)
            finally:
                con.close()
    for name in names:  # the group's files of earlier derivations of this hour
        if name != os.path.basename(target) and is_runs_file_of(name, group):
            fs.delete_file(f"{directory}/{name}")
    return target


def _passes(fs: pafs.FileSystem, infos: Sequence[pafs.FileInfo]) -> int:
    """How many slices of its traces an hour is derived in under a memory limit: one per
    ``SPANS_PER_PASS`` spans (the rows in the files' footers). An hour of 500,000 spans ran out of a
    receiver's 384 MB in one pass: the run aggregates (lists, maps) cannot spill."""
    import pyarrow.parquet as pq

    rows = sum(pq.read_metadata(i.path, filesystem=fs).num_rows for i in infos)
    return max(1, -(-rows // SPANS_PER_PASS))


def _runs_files(fs: pafs.FileSystem, directory: str) -> list[str]:
    if fs.get_file_info(directory).type != pafs.FileType.Directory:
        return []
    return [
        i.base_name
        for i in fs.get_file_info(pafs.FileSelector(directory))
        if i.type == pafs.FileType.File and i.base_name.endswith(".parquet") and TMP_MARK not in i.base_name
    ]


_FOOTERS: dict[tuple[str, int, int], dict[bytes, bytes]] = {}  # (path, size, mtime) -> key-value metadata


def footer(fs: pafs.FileSystem, path: str, size: int, mtime_ns: int) -> dict[bytes, bytes]:
    """A file's key-value metadata, read once per version of the file in this process."""
    key = (path, size, mtime_ns)
    if key not in _FOOTERS:
        import pyarrow.parquet as pq

        try:
            _FOOTERS[key] = dict(pq.read_metadata(path, filesystem=fs).metadata or {})
        except (OSError, ValueError):  # unreadable or gone: it covers nothing
            _FOOTERS[key] = {}
    return _FOOTERS[key]


def list_runs_files(fs: pafs.FileSystem, base: str) -> dict[str, list[pafs.FileInfo]]:
    """The finished derived runs files under the root path ``base``, by partition."""
    directory = f"{base}/{RUNS_DIR}"
    if fs.get_file_info(directory).type != pafs.FileType.Directory:
        return {}
    found: dict[str, list[pafs.FileInfo]] = {}
    for info in fs.get_file_info(pafs.FileSelector(directory, recursive=True)):
        if info.type != pafs.FileType.File or not info.base_name.endswith(".parquet") or TMP_MARK in info.base_name:
            continue
        partition = info.path[len(directory) + 1 :].rpartition("/")[0]
        found.setdefault(partition, []).append(info)
    return found


def sources_digest(the_salt: str, sources: dict[str, int]) -> str:
    """What names a runs file (``runs_file_name``): the salt and its span files' names and sizes."""
    return hashlib.sha256(json.dumps([the_salt, sorted(sources.items())]).encode()).hexdigest()[:16]


def _covered_by_names(
    span_files: Sequence[tuple[str, int, int]], runs_files: Sequence[pafs.FileInfo], the_salt: str
) -> list[pafs.FileInfo] | None:
    """The runs files, when their names alone prove they cover the hour: each is named by the digest
    of its group's span files and the salt (``derive_group``), so when every group of the hour's
    listing has one runs file whose digest is that of the group's files as listed, they hold exactly
    the hour's runs, and no footer is read (a tenth of a second at 200 hours). None: the footers decide
    (a late file, a compacted one, another salt, a file derived from part of its group)."""
    groups: dict[str, dict[str, int]] = {}
    for path, size, _ in span_files:
        name = os.path.basename(path)
        groups.setdefault(span_file_group(name), {})[name] = size
    matched: set[str] = set()
    for info in runs_files:
        parts = runs_file_parts(info.base_name)
        if parts is None or parts[0] not in groups or parts[0] in matched:
            return None
        if sources_digest(the_salt, groups[parts[0]]) != parts[1]:
            return None
        matched.add(parts[0])
    return list(runs_files) if matched and matched == set(groups) else None


def covering(
    fs: pafs.FileSystem,
    span_files: Sequence[tuple[str, int, int]],
    runs_files: Sequence[pafs.FileInfo],
    the_salt: str,
) -> list[pafs.FileInfo] | None:
    """The runs files that together hold exactly the runs of ``span_files`` (an hour's (path, size,
    mtime)), or None when they do not: a span file none of them was derived from (a late span not yet
    derived, a receiver of an older version), one derived from twice, a source that is gone (erased,
    expired) or another salt. A compacted span file counts as the files it merged, unless a runs file
    was derived from it directly."""
    named = _covered_by_names(span_files, runs_files, the_salt)
    if named is not None:
        return named
    listed: dict[tuple[str, int], int] = {}
    wanted = salt_digest(the_salt)
    for info in runs_files:
        meta = footer(fs, info.path, info.size or 0, info.mtime_ns or 0)
        if meta.get(RUNS_SALT_KEY, b"").decode() != wanted:
            return None
        try:
            sources = json.loads(meta[RUNS_SOURCES_KEY])
        except (KeyError, ValueError):
            return None
        for name, size in sources.items():
            listed[(name, size)] = listed.get((name, size), 0) + 1
    if not listed:
        return None
    atoms: dict[tuple[str, int], int] = {}
    for path, size, mtime in span_files:
        name = os.path.basename(path)
        merged = None
        if name.startswith(COMPACTED_PREFIX) and (name, size) not in listed:
            try:
                merged = json.loads(footer(fs, path, size, mtime).get(COMPACTED_FROM_KEY, b"null"))
            except ValueError:
                merged = None
        if isinstance(merged, list):  # compacted by a version that recorded names only: sizes unknown
            merged = dict.fromkeys(merged)
        parts = [(n, facts[0] if isinstance(facts, list) else facts) for n, facts in (merged or {}).items()]
        for atom in parts or [(name, size)]:
            atoms[atom] = atoms.get(atom, 0) + 1
    return list(runs_files) if atoms == listed else None
