"""Erase whole traces from the data root (``driftline reset``): the spans and log records they hold.

Why here, next to the sink: only the collector writes the data root. A file holding a trace to erase
is rewritten without it — the new file is written completely (temporary name, fsync, rename) before
the old one is deleted, so a crash in between leaves both, and readers, which deduplicate spans by
(trace_id, span_id), still see each kept span once. Files holding none are not touched; a file left
with no rows is deleted, and so are the runs derived from an hour that held an erased trace: a
receiver's, the cache's, and the runs of traces that cross hours (readers derive them again).
Unreadable files (see ``inventory``) are left alone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from driftline.collector import crypto, inventory
from driftline.collector.schema import derived_from_hour
from driftline.collector.sink.parquet import ParquetSink

DATASETS = ("spans", "logs")  # the datasets keyed by trace


@dataclass
class EraseResult:
    rows: dict[str, int] = field(default_factory=dict)  # dataset -> rows erased
    files: int = 0  # files rewritten or deleted


def erase_traces(root: str, trace_ids: set[str], dry_run: bool = False) -> EraseResult:
    """Remove every span and log record of ``trace_ids``; with ``dry_run``, only count them."""
    sink = ParquetSink(root)
    wanted = pa.array(sorted(trace_ids), pa.string())
    result = EraseResult({d: 0 for d in DATASETS})
    if not trace_ids:
        return result
    for dataset in DATASETS:
        for f in inventory.scan(sink.fs, sink.base, dataset).files:
            opts = crypto.read_options(sink.key)
            ids = pq.read_table(f.path, filesystem=sink.fs, columns=["trace_id"], **opts).column("trace_id")
            hit = pc.is_in(ids, value_set=wanted)
            erased = pc.sum(hit).as_py() or 0
            if not erased:
                continue
            result.rows[dataset] += erased
            result.files += 1
            if dry_run:
                continue
            if dataset == "spans":  # the runs derived from the hour hold the erased runs: readers derive again
                for runs in derived_from_hour(sink.base, f.partition):
                    if sink.fs.get_file_info(runs).type == pafs.FileType.Directory:
                        sink.fs.delete_dir(runs)
            table = pq.read_table(f.path, filesystem=sink.fs, **opts)
            kept = table.filter(pc.invert(pc.fill_null(hit, False)))
            if kept.num_rows:
                directory, name = f.path.rsplit("/", 1)
                stem = name.removesuffix(".parquet")
                target = f"{directory}/{stem}-r{uuid.uuid4().hex[:8]}.parquet"
                sink.write_file(kept.replace_schema_metadata(table.schema.metadata), target, dataset)
            sink.fs.delete_file(f.path)
    return result
