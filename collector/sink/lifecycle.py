"""Stage 4, at the end of the data's life: prune old partitions, export a time range to one file,
import such a file into another root without duplicating a span.

Why here, next to the sink: these commands write the data root, which only the collector does
(analysis reads it). Pruning works on whole hour partitions — the unit the sink writes — so it never
rewrites a file; ``--keep-versions`` keeps every hour that holds a span of a version still needed
(e.g. the approved baseline). Import deduplicates by (trace_id, span_id) against the hours it
touches, so importing the same export twice adds nothing.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from driftline.collector import crypto, inventory
from driftline.collector.schema import (
    DATASETS,
    OPEN_DATASETS,
    SPAN_SCHEMA,
    derived_from_hour,
    drop_copies,
    is_finished_parquet,
    partition_name,
    partition_start,
    unify,
)
from driftline.collector.sink.parquet import HOUR_NS, ROW_GROUP_ROWS, ParquetSink, codec

REQUIRED = ("trace_id", "span_id", "start_time")


@dataclass
class PrunedPartition:
    dataset: str
    partition: str  # date=YYYY-MM-DD/hour=HH
    files: int
    bytes: int
    kept_because: str | None = None  # set when --keep-versions saved it


def _partitions(fs: pafs.FileSystem, base: str) -> list[tuple[str, datetime, list[pafs.FileInfo]]]:
    """(name, hour start, parquet files) of every hour partition under ``base``."""
    if fs.get_file_info(base).type != pafs.FileType.Directory:
        return []
    out = []
    for date_dir in fs.get_file_info(pafs.FileSelector(base)):
        if date_dir.type != pafs.FileType.Directory:
            continue
        for hour_dir in fs.get_file_info(pafs.FileSelector(date_dir.path)):
            start = partition_start(f"{date_dir.base_name}/{hour_dir.base_name}")
            if hour_dir.type != pafs.FileType.Directory or start is None:
                continue  # not a partition this sink wrote
            files = [
                f
                for f in fs.get_file_info(pafs.FileSelector(hour_dir.path))
                if f.type == pafs.FileType.File and is_finished_parquet(f.path)
            ]
            out.append((f"{date_dir.base_name}/{hour_dir.base_name}", start, files))
    return sorted(out, key=lambda p: p[1])


def _holds_versions(
    fs: pafs.FileSystem, files: list[pafs.FileInfo], versions: set[str], key: crypto.RootKey | None = None
) -> set[str]:
    found: set[str] = set()
    for f in files:
        if inventory.problem(fs, f.path, "spans", key):
            continue  # its spans cannot be read, so they hold no version
        names = set(pq.read_schema(f.path, filesystem=fs, **crypto.read_options(key)).names)
        columns = [c for c in ("agent_version", "service_version") if c in names]
        if not columns:
            continue
        table = pq.read_table(f.path, filesystem=fs, columns=columns, **crypto.read_options(key))
        for c in columns:
            found |= {v for v in pc.unique(table.column(c)).to_pylist() if v in versions}
    return found


def prune_root(
    root: str,
    older_than_s: float,
    keep_versions: set[str] | None = None,
    dry_run: bool = False,
    now: float | None = None,
) -> list[PrunedPartition]:
    """Drop every hour partition that ended more than ``older_than_s`` ago (spans, logs and the runs
    derived from them), except hours holding spans of ``keep_versions``."""
    sink = ParquetSink(root)
    fs = sink.fs
    if fs.get_file_info(sink.base).type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"data root {root} does not exist")
    cutoff = (now if now is not None else time.time()) - older_than_s
    keep_versions = keep_versions or set()
    results = []
    for dataset in DATASETS:
        for name, start, files in _partitions(fs, f"{sink.base}/{dataset}"):
            if start.timestamp() + 3600 > cutoff:
                continue
            item = PrunedPartition(dataset, name, len(files), sum(f.size or 0 for f in files))
            held = (
                _holds_versions(fs, files, keep_versions, sink.key) if keep_versions and dataset == "spans" else set()
            )
            if held:
                item.kept_because = "holds " + ", ".join(sorted(held))
            elif not dry_run:
                fs.delete_dir(f"{sink.base}/{dataset}/{name}")
                if dataset == "spans":  # the runs derived from them, by receivers and by the cache
                    for derived in derived_from_hour(sink.base, name):
                        if fs.get_file_info(derived).type == pafs.FileType.Directory:
                            fs.delete_dir(derived)
            results.append(item)
    return results


def export_range(root: str, target: str, since: datetime | None, until: datetime | None, dataset: str = "spans") -> int:
    """Write the rows of ``dataset`` in [since, until) to one Parquet file; returns the row count."""
    sink = ParquetSink(root)
    schema, time_column = DATASETS[dataset]
    if sink.fs.get_file_info(f"{sink.base}/{dataset}").type != pafs.FileType.Directory:
        raise FileNotFoundError(f"no {dataset} under {root}")
    found = inventory.scan(sink.fs, sink.base, dataset)
    inventory.warn(found.unreadable, root)
    files = found.paths
    condition = None
    for bound, op in ((since, pc.greater_equal), (until, pc.less)):
        if bound is not None:
            expr = op(ds.field(time_column), pa.scalar(bound, type=pa.timestamp("ns", tz="UTC")))
            condition = expr if condition is None else condition & expr
    if dataset in OPEN_DATASETS:  # files differ in their feature columns: each file whole, unified by name
        fmt = crypto.parquet_format(sink.key)
        tables = [ds.dataset(f, filesystem=sink.fs, format=fmt).to_table(filter=condition) for f in files]
        table = unify(tables) if tables else schema.empty_table()
    else:
        fmt = crypto.parquet_format(sink.key)
        table = ds.dataset(files, schema=schema, filesystem=sink.fs, format=fmt).to_table(filter=condition)
    if dataset == "spans":
        table = drop_copies(table)
    pq.write_table(
        table.replace_schema_metadata(schema.metadata),
        target,
        compression=codec(dataset),
        row_group_size=ROW_GROUP_ROWS,
    )
    return table.num_rows


@dataclass
class ImportResult:
    read: int
    duplicates: int
    written: int


def import_file(root: str, source: str) -> ImportResult:
    """Add the spans of an exported file to ``root``, skipping every (trace_id, span_id) it holds."""
    try:
        table = pq.read_table(source)
    except (OSError, pa.ArrowInvalid) as exc:
        raise ValueError(f"{source} is not a readable Parquet file: {exc}") from exc
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise ValueError(f"{source} is not a span export: no column(s) {', '.join(missing)}")
    unknown = sorted(set(table.column_names) - set(SPAN_SCHEMA.names) - {"date", "hour"})
    if unknown:
        raise ValueError(f"{source} has columns the span schema does not know: {', '.join(unknown)}")
    columns = []
    for field in SPAN_SCHEMA:
        if field.name in table.column_names:
            try:
                columns.append(table.column(field.name).cast(field.type))
            except pa.ArrowException as exc:  # ArrowInvalid, or a cast Arrow has no kernel for
                raise ValueError(f"{source}: column {field.name} cannot be read as {field.type}: {exc}") from exc
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    table = drop_copies(pa.Table.from_arrays(columns, schema=SPAN_SCHEMA))
    read = table.num_rows
    hours = (pc.cast(table.column("start_time"), pa.int64()).to_numpy() // HOUR_NS).tolist()
    sink = ParquetSink(root)
    existing = _existing_keys(sink, sorted(set(hours)))
    if existing:
        keys = pc.binary_join_element_wise(table.column("trace_id"), table.column("span_id"), ":")
        fresh = np.invert(pc.is_in(keys, value_set=pa.array(sorted(existing))).to_numpy(zero_copy_only=False))
        table = table.filter(pa.array(fresh))
        hours = [h for h, keep in zip(hours, fresh, strict=True) if keep]
    written = sum(rows for _, rows in sink.write("spans", table, hours, f"import-{uuid.uuid4().hex[:12]}"))
    return ImportResult(read, read - table.num_rows, written)


def _existing_keys(sink: ParquetSink, hours: list[int]) -> set[str]:

    keys: set[str] = set()
    for hour in hours:
        directory = f"{sink.base}/spans/{partition_name(hour)}"
        if sink.fs.get_file_info(directory).type != pafs.FileType.Directory:
            continue
        for f in sink.fs.get_file_info(pafs.FileSelector(directory)):
            if is_finished_parquet(f.path):
                t = pq.read_table(
                    f.path, filesystem=sink.fs, columns=["trace_id", "span_id"], **crypto.read_options(sink.key)
                )
                keys |= set(pc.binary_join_element_wise(t.column("trace_id"), t.column("span_id"), ":").to_pylist())
    return keys
