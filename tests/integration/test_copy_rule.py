"""One rule for which copy of a span is kept (collector/schema.py), and every reader applies it: the
spans view, the run cache (per hour and across hours) and compaction keep the same copy, so a figure
does not change when a cache is warm or a partition is compacted."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from driftline.analysis.db import connect
from driftline.collector.schema import drop_copies
from driftline.collector.sink.compact import compact_root
from driftline.collector.sink.parquet import ParquetSink
from tests.span_rows import agent_runs

RUN_COLUMNS = "run_id, version, tool_calls, tool_sequence, duration_ms"


def _with(table: pa.Table, **changes: object) -> pa.Table:
    """``table`` with each named column set to one value on every row."""
    for column, value in changes.items():
        i = table.schema.get_field_index(column)
        field = table.schema.field(i)
        table = table.set_column(i, field, pa.array([value] * table.num_rows, field.type))
    return table


def _runs(root: Path, cached: bool) -> list[tuple]:
    con = connect(str(root), cached_runs=cached, cache_dir=root / "_test_cache")
    try:
        return con.execute(f"SELECT {RUN_COLUMNS} FROM runs ORDER BY run_id").fetchall()
    finally:
        con.close()


def test_compaction_keeps_the_copy_the_spans_view_shows(tmp_path: Path) -> None:
    """Copy "late" sits in the file whose name sorts first, copy "early" was received first: the view
    shows "early", before and after compaction (the old compaction kept the first file's copy)."""
    root = tmp_path / "data"
    agent_runs(root, "1.0", 3, stem="original")
    (original,) = root.glob("spans/*/*/original.parquet")
    table = pq.read_table(original)
    sink = ParquetSink(str(root))
    sink.write_file(_with(table, agent_version="late", received_at=10**18),
                    str(original.parent / "a-late.parquet"), "spans")  # fmt: skip
    sink.write_file(_with(table, agent_version="early"), str(original.parent / "b-early.parquet"), "spans")
    original.unlink()

    before = _runs(root, cached=False)
    assert {r[1] for r in before} == {"early"}
    assert len(compact_root(str(root), min_age=0)) == 1
    assert _runs(root, cached=False) == before
    assert _runs(root, cached=True) == before


def test_same_instant_copies_are_chosen_by_content_not_by_file(tmp_path: Path) -> None:
    table = pa.table(
        {
            "trace_id": ["t", "t", "t"],
            "span_id": ["s", "s", "s"],
            "name": ["b", "a", "b"],
            "start_time": pa.array([1, 1, 1], pa.timestamp("ns", "UTC")),
            "end_time": pa.array([2, 2, 2], pa.timestamp("ns", "UTC")),
            "received_at": pa.array([5, 5, 5], pa.timestamp("ns", "UTC")),
            "file": ["x", "y", "z"],
        }
    )
    kept = drop_copies(table)  # the two "b" rows are one span's copies; "a" is a different span (a conflict)
    assert kept.column("name").to_pylist() == ["b", "a"] and kept.column("file").to_pylist() == ["x", "y"]
    assert drop_copies(table.take([2, 1, 0])).column("file").to_pylist() == ["z", "y"]


def test_the_run_cache_drops_a_copy_that_sits_in_another_hour(tmp_path: Path) -> None:
    """A span id reused with a start time in the next hour: the live view keeps one span; the cache,
    which derives hour by hour, sees the trace in two hours and derives it whole — with the copies
    dropped across the hours, so both give the same runs."""
    root = tmp_path / "data"
    agent_runs(root, "1.0", 2, stem="rx-a")
    (first,) = root.glob("spans/*/*/rx-a.parquet")
    table = pq.read_table(first)
    tool = table.filter(pc.starts_with(table.column("name"), "execute_tool")).slice(0, 1)
    later = 10**18  # received long after the first copy: the view keeps the first
    moved = _with(tool, received_at=later)
    for column, shift in (("start_time", 3600), ("end_time", 3600)):
        i = moved.schema.get_field_index(column)
        values = pc.add(moved.column(column), pa.scalar(shift * 10**9, pa.duration("ns")))
        moved = moved.set_column(i, moved.schema.field(i), values.cast(moved.schema.field(i).type))
    hour = pc.min(moved.column("start_time")).as_py()
    ParquetSink(str(root)).write("spans", moved, [int(hour.timestamp()) // 3600], "rx-b")
    assert len(list(root.glob("spans/*/*/*.parquet"))) == 2

    live = _runs(root, cached=False)
    assert _runs(root, cached=True) == live


def test_the_spans_view_breaks_a_tie_by_content_whichever_file_holds_which_copy(tmp_path: Path) -> None:
    """Two different spans with one id, received at the same instant: every reader keeps the one whose
    (name, start, end) sorts first, not whichever file DuckDB happened to read first."""
    for stem in ("0-first", "z-last"):
        root = tmp_path / stem / "data"
        agent_runs(root, "1.0", 3, stem="m-original")
        (original,) = root.glob("spans/*/*/m-original.parquet")
        table = pq.read_table(original)
        renamed = table.set_column(
            table.schema.get_field_index("name"), "name", pc.binary_join_element_wise("a ", table.column("name"), "")
        )
        ParquetSink(str(root)).write_file(renamed, str(original.parent / f"{stem}.parquet"), "spans")
        con = connect(str(root))
        names = [r[0] for r in con.execute("SELECT DISTINCT name FROM spans").fetchall()]
        con.close()
        assert names and all(n.startswith("a ") for n in names), (stem, names)


def test_label_events_received_at_one_instant_are_chosen_by_what_they_say(tmp_path: Path) -> None:
    """Two label events for one (request, model, time) at one received_at, one saying 0 and one 1:
    whichever file holds which, ``label_events`` keeps the same one (the schema's rule for labels)."""
    from driftline.collector.schema import LABEL_SCHEMA, partition_name

    def labels(value: float) -> pa.Table:
        return pa.table(
            {
                "time": pa.array([10**18], pa.timestamp("ns", "UTC")),
                "request_id": ["r1"],
                "model": ["churn"],
                "label": [value],
                "received_at": pa.array([2 * 10**18], pa.timestamp("ns", "UTC")),
            }
        ).select([n for n in LABEL_SCHEMA.names if n in ("time", "request_id", "model", "label", "received_at")])

    kept = []
    pairs = [(a, b) for a, b in ((1.0, 0.0), (2.0, 7.0), (9.0, 3.0), (4.0, 5.0)) for a, b in ((a, b), (b, a))]
    for first, second in pairs:
        root = tmp_path / f"{first}-{second}" / "data"
        sink = ParquetSink(str(root))
        directory = root / "labels" / partition_name(10**18 // 3_600_000_000_000)
        for stem, value in (("a", first), ("b", second)):
            table = labels(value)
            full = pa.table(
                {
                    f.name: table.column(f.name) if f.name in table.column_names else pa.nulls(1, f.type)
                    for f in LABEL_SCHEMA
                },
                schema=LABEL_SCHEMA,
            )
            sink.write_file(full, str(directory / f"{stem}.parquet"), "labels")
        con = connect(str(root))
        kept.append(con.execute("SELECT label FROM label_events").fetchall())
        con.close()
    assert kept == [[(min(pair),)] for pair in pairs]
