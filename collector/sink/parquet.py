"""Stage 4: partitioned Parquet files, written to a temporary name and renamed into place.

Why deterministic names: a file is named ``<instance>-<segment stem>.parquet`` (the stem is the
segment's boot epoch and sequence number, never reused) so that replaying a segment after a crash
overwrites the very file an earlier attempt may have written — a span is never in Parquet twice
because of a replay — and several receivers can share one data root without coordinating (each has
its own instance id). Readers only ever see whole files. Locally a file is fsynced, renamed, and its
directory fsynced before ``write`` returns: the caller deletes the WAL segment right after, so the
file must survive a power loss by then. Files are 0600 and directories 0700, like the WAL.
"""

from __future__ import annotations

import contextlib
import os
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from driftline.collector import crypto
from driftline.collector.durable import FILE_MODE, fsync_dir, fsync_file, make_dirs
from driftline.collector.schema import TMP_MARK, filesystem, partition_name

HOUR_NS = 3_600_000_000_000
# Rows per row group: DuckDB and pyarrow read a file's row groups in parallel, so pyarrow's default
# (a million rows, one group for most files) would read an imported million-row file on one core.
ROW_GROUP_ROWS = 131_072
# The codec of each dataset's files. Why not ZSTD everywhere: a model diff reads every feature column of
# a million inferences per side, and decoding ZSTD was half of that read's CPU (0.4 of 0.8 s per 16
# columns of a million rows on 2 cores) while it saved 7% of the bytes of float features, whose low bits
# do not compress. Snappy decodes at memory speed and every Parquet reader has it. Spans, logs and labels
# are ids and text that ZSTD shrinks several times over, and few of their columns are read at once.
CODECS = {"inferences": "snappy"}
DEFAULT_CODEC = "zstd"


def codec(dataset: str) -> str:
    return CODECS.get(dataset, DEFAULT_CODEC)


class ParquetSink:
    def __init__(self, root: str) -> None:
        self.fs, self.base = filesystem(root)
        self.key = crypto.writer_key(self.fs, self.base)  # encryption at rest (DRIFTLINE_ENCRYPTION_KEY)

    def write(self, dataset: str, table: pa.Table, hours: list[int], stem: str) -> list[tuple[str, int]]:
        """Split ``table`` by hour partition and write one file per partition; returns (path, rows)."""
        if table.num_rows == 0:
            return []
        buckets = np.asarray(hours, dtype=np.int64)
        written = []
        for bucket in np.unique(buckets):
            part = table if len(np.unique(buckets)) == 1 else table.take(np.nonzero(buckets == bucket)[0])
            directory = f"{self.base}/{dataset}/{partition_name(int(bucket))}"
            path = f"{directory}/{stem}.parquet"
            self.write_file(part, path, dataset)
            written.append((path, part.num_rows))
        return written

    def _write_table(self, table: pa.Table, path: str, dataset: str) -> None:
        """One Parquet file as every writer of the root makes it: the dataset's codec, bounded row
        groups, and encrypted when the root is (``crypto``)."""
        pq.write_table(
            table,
            path,
            filesystem=self.fs,
            compression=codec(dataset),
            row_group_size=ROW_GROUP_ROWS,
            **crypto.write_options(self.key),
        )

    def write_file(self, table: pa.Table, path: str, dataset: str) -> None:
        """Readers never see half a file: locally, write a temporary name, fsync it, rename it (atomic
        on POSIX) and fsync the directory; an object store makes an upload visible (and durable) only
        once it completes, so write directly."""
        directory = path.rsplit("/", 1)[0]
        if not isinstance(self.fs, pafs.LocalFileSystem):
            self.fs.create_dir(directory, recursive=True)
            self._write_table(table, path, dataset)
            return
        make_dirs(directory)
        tmp = f"{path}{TMP_MARK}{uuid.uuid4().hex[:8]}"
        try:
            self._write_table(table, tmp, dataset)
            os.chmod(tmp, FILE_MODE)
            fsync_file(tmp)
            os.replace(tmp, path)
            fsync_dir(directory)
        except BaseException:
            with contextlib.suppress(OSError):
                self.fs.delete_file(tmp)
            raise
