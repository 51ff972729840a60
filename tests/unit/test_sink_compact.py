"""Parquet sink partitioning and idempotence; compaction that loses and duplicates nothing."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pyarrow.parquet as pq

from driftline.collector import otlp
from driftline.collector.normalize.normalizer import NormalizeOptions, SpanNormalizer
from driftline.collector.schema import SCHEMA_VERSION, schema_version_of
from driftline.collector.sink.compact import SOURCES_KEY, compact_root
from driftline.collector.sink.parquet import ParquetSink
from tests.conftest import read_dataset
from tests.integration.otlp_payloads import trace_request

HOUR = 3_600_000_000_000


def _spans(n: int, start_ns: int | None = None) -> SpanNormalizer:
    req, _ = trace_request(n)
    if start_ns is not None:
        for i, span in enumerate(req.resource_spans[0].scope_spans[0].spans):
            span.start_time_unix_nano = start_ns + i * HOUR // 2
            span.end_time_unix_nano = span.start_time_unix_nano + 1000
    norm = SpanNormalizer(NormalizeOptions())
    norm.add_request(otlp.parse("traces", req.SerializeToString()), 1)
    return norm


def test_partitions_by_hour_and_rewrites_idempotently(tmp_path: Path) -> None:
    sink = ParquetSink(str(tmp_path))
    norm = _spans(5, start_ns=1_700_000_000_000_000_000)  # 22:13 UTC, then every 30 minutes: 3 hours, 2 days
    written = sink.write("spans", norm.table(), norm.hours, "rx-000000000001")
    assert sorted((p.split("/spans/")[1], rows) for p, rows in written) == [
        ("date=2023-11-14/hour=22/rx-000000000001.parquet", 2),
        ("date=2023-11-14/hour=23/rx-000000000001.parquet", 2),
        ("date=2023-11-15/hour=00/rx-000000000001.parquet", 1),
    ]
    sink.write("spans", norm.table(), norm.hours, "rx-000000000001")  # a replay writes the same names
    assert read_dataset(tmp_path).num_rows == 5
    meta = pq.read_metadata(written[0][0]).metadata
    assert schema_version_of(meta) == SCHEMA_VERSION
    assert not [p for p in tmp_path.rglob("*") if ".tmp-" in p.name]


def test_compact_merges_dedupes_and_recovers(tmp_path: Path) -> None:
    sink = ParquetSink(str(tmp_path))
    start = 1_700_000_000_000_000_000
    norms = [_spans(5, start_ns=start) for _ in range(3)]
    for i, norm in enumerate(norms):
        table = norm.table()
        sink.write("spans", table, [start // HOUR] * table.num_rows, f"rx-{i:012d}")
    dup = norms[0].table()
    sink.write("spans", dup, [start // HOUR] * dup.num_rows, "other-000000000001")  # same spans, another receiver
    old = time.time() - 3600
    for p in tmp_path.rglob("*.parquet"):
        os.utime(p, (old, old))
    assert compact_root(str(tmp_path), min_age=0, dry_run=True)[0].sources == 4
    assert len(list(tmp_path.rglob("*.parquet"))) == 4
    results = compact_root(str(tmp_path), min_age=60)
    assert [(r.sources, r.rows_in, r.rows_out) for r in results] == [(4, 20, 15)]
    files = list(tmp_path.rglob("*.parquet"))
    assert len(files) == 1 and files[0].name.startswith("compact-")
    table = read_dataset(tmp_path)
    assert table.num_rows == 15 and len(set(table.column("span_id").to_pylist())) == 15

    # an interrupted compaction (merged file written, sources not yet deleted) is finished next time
    sources = json.loads(pq.read_metadata(files[0]).metadata[SOURCES_KEY])
    name = sorted(sources)[1]
    leftover = norms[1].table()
    sink.write("spans", leftover, [start // HOUR] * leftover.num_rows, name.removesuffix(".parquet"))
    os.utime(files[0].parent / name, (old, old))  # a real leftover predates the merged file
    assert read_dataset(tmp_path).num_rows == 20
    compact_root(str(tmp_path), min_age=0)
    assert read_dataset(tmp_path).num_rows == 15


def test_compaction_never_deletes_a_later_file_that_reuses_a_merged_name(tmp_path: Path) -> None:
    """Receivers before boot epochs restarted their segment numbers: a new file could take the name of
    one an earlier compaction merged. Its spans are new; compaction must merge them, not delete them."""
    sink = ParquetSink(str(tmp_path))
    start = 1_700_000_000_000_000_000
    old = time.time() - 3600
    for i in range(2):
        table = _spans(5, start_ns=start).table()
        sink.write("spans", table, [start // HOUR] * table.num_rows, f"rx-{i:012d}")
    for p in tmp_path.rglob("*.parquet"):
        os.utime(p, (old, old))
    compact_root(str(tmp_path), min_age=0)
    fresh = _spans(7, start_ns=start).table()  # after a restart: same name, new spans
    sink.write("spans", fresh, [start // HOUR] * fresh.num_rows, "rx-000000000000")
    assert read_dataset(tmp_path).num_rows == 17
    compact_root(str(tmp_path), min_age=0)
    assert read_dataset(tmp_path).num_rows == 17


def test_young_files_are_left_alone(tmp_path: Path) -> None:
    sink = ParquetSink(str(tmp_path))
    for i in range(2):
        norm = _spans(2)
        sink.write("spans", norm.table(), norm.hours, f"rx-{i:012d}")
    assert compact_root(str(tmp_path), min_age=600) == []
    assert len(list(tmp_path.rglob("*.parquet"))) == 2
