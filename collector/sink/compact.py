"""Stage 4, later: merge the small files of a partition into one, losing and duplicating nothing.

Why it is crash-safe: the merged file is written to a temporary name, fsynced, renamed into place,
and only then are its sources deleted. The merged file records its sources (name, size and rows) in
its Parquet metadata, so if a crash leaves some sources behind, the next run deletes them before
doing anything else rather than counting their rows twice. It deletes only a file it merged: same
name, same size and row count, and not newer than the merged file — a later file that happens to
carry a listed name (receivers before boot epochs reused names after a restart) is never touched.
Span rows are deduplicated by (trace_id, span_id) while merging. Files younger than ``min_age`` are
left alone: a receiver may still be replaying into them.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from driftline.collector import crypto, inventory
from driftline.collector.schema import (
    COMPACTED_FROM_KEY,
    COMPACTED_PREFIX,
    DATASETS,
    OPEN_DATASETS,
    drop_copies,
    is_finished_parquet,
    unify,
)
from driftline.collector.sink.parquet import ParquetSink

SOURCES_KEY = COMPACTED_FROM_KEY
PREFIX = COMPACTED_PREFIX


@dataclass
class CompactResult:
    partition: str
    sources: int
    rows_in: int
    rows_out: int


def _files(fs: pafs.FileSystem, directory: str, dataset: str, key: crypto.RootKey | None = None) -> list[pafs.FileInfo]:
    """The partition's readable files: an unreadable one is left where it is, for the doctor to name."""
    infos = fs.get_file_info(pafs.FileSelector(directory, recursive=False))
    return [
        i
        for i in infos
        if i.type == pafs.FileType.File
        and is_finished_parquet(i.path)
        and not inventory.problem(fs, i.path, dataset, key)
    ]


def _rows(fs: pafs.FileSystem, info: pafs.FileInfo, key: crypto.RootKey | None = None) -> int:
    return pq.read_metadata(info.path, filesystem=fs, **crypto.read_options(key)).num_rows


def _was_merged(
    fs: pafs.FileSystem,
    candidate: pafs.FileInfo,
    recorded: list | None,
    merged: pafs.FileInfo,
    key: crypto.RootKey | None = None,
) -> bool:
    """Is ``candidate`` the very file ``merged`` was made from (not a later file with its name)?"""
    if candidate.mtime is not None and merged.mtime is not None and candidate.mtime > merged.mtime:
        return False
    if recorded is None:  # compacted by a version that recorded names only: the time check decides
        return True
    size, rows = recorded
    return candidate.size == size and _rows(fs, candidate, key) == rows


def _finish_interrupted(
    fs: pafs.FileSystem, files: list[pafs.FileInfo], key: crypto.RootKey | None = None
) -> list[pafs.FileInfo]:
    """Delete sources that an earlier, interrupted compaction already merged."""
    names = {f.base_name: f for f in files}
    for f in files:
        if not f.base_name.startswith(PREFIX):
            continue
        meta = pq.read_metadata(f.path, filesystem=fs, **crypto.read_options(key)).metadata or {}
        sources = json.loads(meta.get(SOURCES_KEY, b"[]"))
        recorded = sources if isinstance(sources, dict) else dict.fromkeys(sources)
        for source, facts in recorded.items():
            if source in names and source != f.base_name and _was_merged(fs, names[source], facts, f, key):
                fs.delete_file(names.pop(source).path)
    return list(names.values())


def compact_partition(
    sink: ParquetSink, dataset: str, directory: str, min_age: float, dry_run: bool = False
) -> CompactResult | None:
    fs = sink.fs
    files = _finish_interrupted(fs, _files(fs, directory, dataset, sink.key), sink.key)
    now = time.time()
    old = [f for f in files if f.mtime is None or now - f.mtime.timestamp() >= min_age]
    if len(old) < 2:
        return None
    schema = DATASETS[dataset][0]
    ordered = sorted(old, key=lambda f: f.base_name)
    if dataset in OPEN_DATASETS:  # one column per feature: every file's own columns, unified by name
        tables = [pq.read_table(f.path, filesystem=fs, **crypto.read_options(sink.key)) for f in ordered]
        merged = unify(tables)
    else:
        tables = [pq.read_table(f.path, filesystem=fs, schema=schema, **crypto.read_options(sink.key)) for f in ordered]
        merged = pa.concat_tables(tables)
    rows_in = merged.num_rows
    if dataset == "spans":
        merged = drop_copies(merged)
    result = CompactResult(directory, len(old), rows_in, merged.num_rows)
    if dry_run:
        return result
    meta = dict(schema.metadata or {})
    sources = {f.base_name: [f.size, t.num_rows] for f, t in zip(ordered, tables, strict=True)}
    meta[SOURCES_KEY] = json.dumps(sources).encode()
    merged = merged.replace_schema_metadata(meta)
    sink.write_file(merged, f"{directory}/{PREFIX}{uuid.uuid4().hex[:12]}.parquet", dataset)
    for f in old:
        fs.delete_file(f.path)
    return result


def compact_root(root: str, min_age: float = 600, dry_run: bool = False) -> list[CompactResult]:
    sink = ParquetSink(root)
    fs = sink.fs
    if fs.get_file_info(sink.base).type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"data root {root} does not exist")
    results = []
    for dataset in DATASETS:
        base = f"{sink.base}/{dataset}"
        if fs.get_file_info(base).type != pafs.FileType.Directory:
            continue
        for date_dir in fs.get_file_info(pafs.FileSelector(base)):
            if date_dir.type != pafs.FileType.Directory:
                continue
            for hour_dir in fs.get_file_info(pafs.FileSelector(date_dir.path)):
                if hour_dir.type == pafs.FileType.Directory:
                    r = compact_partition(sink, dataset, hour_dir.path, min_age, dry_run)
                    if r is not None:
                        results.append(r)
    return results
