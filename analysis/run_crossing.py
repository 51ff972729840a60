"""Traces cut in two by per-hour derivation: found across the derived runs files, derived whole.

A trace whose spans fall into two hours (a run crossing the top of the hour), or reached two
receivers, appears in two derived files (as runs or as a stub, see ``run_derivation.py``); each holds
a piece of it, so its runs are derived again from all the span files of all its hours. Two callers
need the same facts, so they live here: a reader (``run_cache.py``) before it reads runs, and a
receiver after it derives an hour (``commands/runs_derived.py``), which leaves what it found beside
the runs (``runs/_crossing/``) so that a cold diff reads instead of deriving.

- A derived file is named by an *ident*, ``<partition>/<file name>`` (``cache:`` first for the run
  cache's files). A derived file's name is a digest of what it was derived from, so an ident names
  content, whatever the mount point or process.
- A *memo* records, for a set of idents (its state), the traces in more than one of them with their
  hours. A reader whose files include a memo's state only checks the traces of the files the memo has
  not seen (the open hour, an hour derived since): a trace cut between two files the memo saw is in
  the memo; any other cut trace has a piece in a file it did not see.
- A *piece* is the runs of the cut traces of one set of hours, derived from all the span files of
  those hours and named by those files (name, size, time) and the trace ids: a new hour adds pieces,
  the others stay valid. The pieces of a state are kept in one file (column ``_piece``; the footer
  lists them), named by the pieces it holds, so a scan of ``runs`` opens one file for all of them,
  and the next state's file takes the pieces it keeps from it instead of deriving them again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from driftline.analysis import run_derivation as derivation
from driftline.analysis.cost import PriceTable
from driftline.analysis.sql_literals import literal, literal_list
from driftline.analysis.views import insert_columns, new_connection
from driftline.collector.schema import CROSSING_DIR, RUNS_DIR, TMP_MARK, filesystem

PIECES_KEY = b"driftline.crossing_pieces"  # a pieces file's footer: the pieces it holds
KEEP_UNUSED_S = 600.0  # a memo or piece no current state names is removed after this (a reader may hold it)

Crossing = list[tuple[str, list[str]]]  # (trace id, its hours), by trace id


@dataclass(frozen=True)
class Derived:
    """One derived runs file: its ident and the local path it is read from."""

    ident: str
    path: str


@dataclass(frozen=True)
class Memo:
    state: frozenset[str]
    crossing: Crossing


def ident(partition: str, name: str, cached: bool = False) -> str:
    return f"{'cache:' if cached else ''}{partition}/{name}"


def state_digest(idents: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(idents)).encode()).hexdigest()[:20]


def read_memos(places: Sequence[tuple[pafs.FileSystem, str]]) -> list[Memo]:
    """The memos in each (file system, directory); unreadable or half-written ones are skipped."""
    memos = []
    for fs, directory in places:
        for info in listing(fs, directory, ".json"):
            try:
                with fs.open_input_stream(info.path) as f:
                    doc = json.loads(f.read())
                memos.append(Memo(frozenset(doc["state"]), [(t, list(h)) for t, h in doc["crossing"]]))
            except (OSError, ValueError, KeyError, TypeError):
                continue
    return memos


def write_memo(fs: pafs.FileSystem, directory: str, memo: Memo) -> str:
    """``memo`` as ``<state digest>.json`` in ``directory``, whole or not at all."""
    path = f"{directory}/{state_digest(memo.state)}.json"
    _put(fs, path, json.dumps({"state": sorted(memo.state), "crossing": memo.crossing}).encode())
    return path


def find(
    con: duckdb.DuckDBPyConnection,
    files: Sequence[Derived],
    memos: Sequence[Memo],
    fs: pafs.FileSystem | None = None,
    scope: frozenset[str] = frozenset(),
) -> Crossing:
    """The traces in more than one of ``files``, with their hours, helped by the memo that saw most of
    them (one whose state is not wholly among ``files`` and ``scope`` — names that are no file, such
    as the root's — says nothing about them). ``fs``: where the paths are, when not local."""
    idents = {f.ident for f in files} | scope
    usable = [m for m in memos if m.state <= idents]
    memo = max(usable, key=lambda m: len(m.state), default=None)
    unseen = [f.path for f in files if memo is None or f.ident not in memo.state]
    if memo is not None and not unseen:  # it saw every one of these files
        return memo.crossing
    everything = _relation(con, [f.path for f in files], fs, "_all")
    query = (
        f"SELECT trace_id, list(DISTINCT _partition ORDER BY _partition) FROM {everything} {{where}} "
        "GROUP BY trace_id HAVING count(DISTINCT _source) > 1 ORDER BY trace_id"
    )
    if memo is None:
        return [(t, list(h)) for t, h in con.execute(query.format(where="")).fetchall()]
    where = f"WHERE trace_id IN (SELECT trace_id FROM {_relation(con, unseen, fs, '_unseen')})"
    found = dict(memo.crossing)
    found.update((t, list(h)) for t, h in con.execute(query.format(where=where)).fetchall())
    return sorted(found.items())


def _relation(con: duckdb.DuckDBPyConnection, paths: list[str], fs: pafs.FileSystem | None, name: str) -> str:
    if fs is None or isinstance(fs, pafs.LocalFileSystem):
        return f"read_parquet({literal_list(paths)}, hive_partitioning = false)"
    con.register(name, ds.dataset(paths, filesystem=fs, format="parquet"))
    return name


def by_hours(crossing: Crossing) -> dict[tuple[str, ...], list[str]]:
    """The cut traces grouped by their set of hours: each group is one piece."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for trace, hours in crossing:
        groups.setdefault(tuple(sorted(hours)), []).append(trace)
    return groups


def piece_name(the_salt: str, hours: tuple[str, ...], traces: list[str], spans: dict[str, derivation.Partition]) -> str:
    """A piece's name: the salt, each hour's span files (name, size, time) and the traces."""
    digest = hashlib.sha256(the_salt.encode())
    for h in hours:
        digest.update(f"{h}:{spans[h].key(the_salt) if h in spans else '-'}\n".encode())
    for trace in sorted(traces):
        digest.update(f"{trace}\n".encode())
    return digest.hexdigest()[:24]


def pieces_file(names: Iterable[str]) -> str:
    """The name of the file holding exactly the pieces ``names`` (one file: a scan of runs opens it once)."""
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:24] + ".parquet"


def pieces_in(fs: pafs.FileSystem, info: pafs.FileInfo) -> list[str]:
    """The pieces a pieces file holds, from its footer ([] when unreadable)."""
    meta = derivation.footer(fs, info.path, info.size or 0, info.mtime_ns or 0)
    try:
        return list(json.loads(meta.get(PIECES_KEY, b"[]")))
    except ValueError:
        return []


def assemble(
    groups: dict[tuple[str, ...], list[str]],
    spans: dict[str, derivation.Partition],
    root: str,
    prices: PriceTable,
    sources: Sequence[tuple[pafs.FileSystem, str]],
    target: tuple[pafs.FileSystem, str],
    threads: int | None = None,
    memory_limit: str | None = None,
) -> int:
    """Write the pieces of ``groups`` into the pieces file ``target`` (a directory on a file system),
    taking the pieces found in the pieces files of ``sources`` and deriving the others, in one query
    over all their hours' span files; returns how many were derived. Nothing when it exists."""
    the_salt = derivation.salt(prices)
    names = {hs: piece_name(the_salt, hs, ts, spans) for hs, ts in groups.items()}
    target_fs, directory = target
    path = f"{directory}/{pieces_file(names.values())}"
    if target_fs.get_file_info(path).type == pafs.FileType.File:
        return 0
    wanted, found = set(names.values()), {}
    for fs, where in sources:
        for info in listing(fs, where, ".parquet"):
            for name in wanted.intersection(pieces_in(fs, info)):
                found.setdefault(name, (fs, info.path))
    missing = {hs: ts for hs, ts in groups.items() if names[hs] not in found}
    fs, base = filesystem(root)
    hours = sorted({h for hs in missing for h in hs if h in spans})  # a trace's hours all hold spans
    if hours:  # their readable files, checked now (a reader may have only listed them)
        checked = derivation.list_partitions(fs, base, root, hours)
        files = tuple(f for p in checked for f, _, _ in p.files)
        con = derivation.derive(
            fs,
            [derivation.Group("*", "*", files, all(p.complete for p in checked))],
            prices,
            threads,
            traces=[t for ts in missing.values() for t in ts],
            memory_limit=memory_limit,
        )
    else:
        con = new_connection(threads, memory_limit)
    try:
        parts = []
        if hours:
            con.execute("CREATE TEMP TABLE _piece_of(trace_id VARCHAR, _piece VARCHAR)")
            pairs = [(t, names[hs]) for hs, ts in missing.items() for t in ts]
            insert_columns(con, "_piece_of", [[t for t, _ in pairs], [n for _, n in pairs]], ["VARCHAR", "VARCHAR"])
            parts.append("SELECT r.*, p._piece FROM _runs r JOIN _piece_of p USING (trace_id)")
        by_file: dict[str, tuple[pafs.FileSystem, list[str]]] = {}
        for name, (source_fs, source) in found.items():
            by_file.setdefault(source, (source_fs, []))[1].append(name)
        for i, (source, (source_fs, kept)) in enumerate(by_file.items()):  # one scan per file kept from
            relation = _relation(con, [source], source_fs, f"_kept_{i}")
            parts.append(f"SELECT * FROM {relation} WHERE _piece IN ({', '.join(literal(n) for n in sorted(kept))})")
        query = " UNION ALL BY NAME ".join(parts)
        metadata = {PIECES_KEY: json.dumps(sorted(wanted))}
        if isinstance(target_fs, pafs.LocalFileSystem):
            derivation.copy_local(con, query, Path(path), metadata)
        else:  # an object store: written here, then put whole
            with tempfile.TemporaryDirectory(prefix="driftline-crossing-") as tmp:
                local = os.path.join(tmp, "pieces.parquet")
                derivation.copy_local(con, query, Path(local), metadata)
                target_fs.create_dir(directory, recursive=True)
                pafs.copy_files(local, path, destination_filesystem=target_fs)
    finally:
        con.close()
    return len(missing)


def settle(root: str, prices: PriceTable, threads: int | None = 1, memory_limit: str | None = None) -> int:
    """What a receiver does after it derives an hour (and ``driftline runs rebuild`` at its end): find
    the cut traces among the root's derived files that account for their hours, record them in a memo
    and write their pieces, deriving those not derived before, all under ``runs/_crossing/``; returns
    the pieces derived. A reader whose files are these (plus maybe the open hour's) then derives
    nothing of them."""
    fs, base = filesystem(root)
    the_salt = derivation.salt(prices)
    spans = {p.name: p for p in derivation.list_partitions(fs, base)}
    runs_files = derivation.list_runs_files(fs, base)
    chosen = []
    for name, part in spans.items():
        covering = derivation.covering(fs, part.files, runs_files.get(name, []), the_salt)
        chosen.extend(Derived(ident(name, i.base_name), i.path) for i in covering or [])
    if not chosen:
        return 0
    directory = f"{base}/{RUNS_DIR}/{CROSSING_DIR}"
    con = new_connection(threads, memory_limit)
    try:
        crossing = find(con, chosen, read_memos([(fs, directory)]), fs)
    finally:
        con.close()
    written = os.path.basename(write_memo(fs, directory, Memo(frozenset(d.ident for d in chosen), crossing)))
    for info in listing(fs, directory, ".json"):  # a memo is a hint: the newest suffices
        if info.base_name != written:
            try:
                fs.delete_file(info.path)
            except OSError:  # another receiver removed it first
                continue
    groups = by_hours(crossing)
    if not groups:
        sweep(fs, directory, set())
        return 0
    derived = assemble(groups, spans, root, prices, [(fs, directory)], (fs, directory), threads, memory_limit)
    sweep(fs, directory, {pieces_file(piece_name(the_salt, hs, ts, spans) for hs, ts in groups.items())})
    return derived


def sweep(
    fs: pafs.FileSystem, directory: str, keep: set[str], suffix: str = ".parquet", now: float | None = None
) -> None:
    """Remove the pieces (files ending in ``suffix``) of ``directory`` not in ``keep`` once they are
    ``KEEP_UNUSED_S`` old: a younger one may be another process's current state."""
    now = time.time() if now is None else now
    for info in listing(fs, directory, suffix):
        mtime = info.mtime_ns / 1e9 if info.mtime_ns else now
        if info.base_name not in keep and now - mtime > KEEP_UNUSED_S:
            try:
                fs.delete_file(info.path)
            except OSError:  # gone already: another process swept it
                continue


def listing(fs: pafs.FileSystem, directory: str, suffix: str) -> list[pafs.FileInfo]:
    try:
        infos = fs.get_file_info(pafs.FileSelector(directory))
    except (FileNotFoundError, OSError):
        return []
    return [
        i
        for i in infos
        if i.type == pafs.FileType.File and i.base_name.endswith(suffix) and TMP_MARK not in i.base_name
    ]


def _put(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    directory = path.rpartition("/")[0]
    fs.create_dir(directory, recursive=True)
    if isinstance(fs, pafs.LocalFileSystem):
        fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + TMP_MARK, dir=directory)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    else:  # an object store's PUT is whole or nothing
        with fs.open_output_stream(path) as f:
            f.write(data)
