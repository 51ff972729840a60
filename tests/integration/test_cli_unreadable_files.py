"""One garbage or foreign file under the data root: every reader skips it with one warning naming it,
the reports still come out, and nothing prints a traceback (issue 19, item 1)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from driftline.collector.schema import LOG_SCHEMA
from tests.span_rows import agent_runs


def driftline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "driftline.analysis.cli", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def damaged_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("damaged") / "data"
    agent_runs(root, "v1", 30, tools=("search", "lookup"))
    agent_runs(root, "v2", 30, tools=("search",), start_ms=40_000)
    hour = next((root / "spans").glob("date=*/hour=*"))
    (hour / "junk.parquet").write_bytes(b"not parquet at all, just some bytes")
    pq.write_table(pa.table({"a": [1, 2], "b": ["x", "y"]}), hour / "foreign.parquet")
    pq.write_table(LOG_SCHEMA.empty_table(), hour / "a-logs-file.parquet")  # another dataset's file
    pq.write_table(pa.table({"trace_id": [1], "span_id": [2], "start_time": [3]}), hour / "wrong-types.parquet")
    return root


BAD = ("junk.parquet", "foreign.parquet", "a-logs-file.parquet", "wrong-types.parquet")


@pytest.mark.parametrize(
    "args",
    [
        ("versions",),
        ("runs", "--limit", "5"),
        ("cost",),
        ("sql", "SELECT count(*) AS n FROM runs"),
        ("diff", "v1", "v2", "--format", "json"),
        ("conventions",),
        ("export", "--to", "{tmp}/out.parquet"),
        ("compact", "--min-age", "0"),
    ],
    ids=lambda a: a[0],
)
def test_every_reader_skips_unreadable_files_with_one_warning(damaged_root: Path, tmp_path: Path, args) -> None:
    args = tuple(a.replace("{tmp}", str(tmp_path)) for a in args)
    out = driftline(*args, "--data", str(damaged_root))
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    warnings = [line for line in out.stderr.splitlines() if "unreadable" in line]
    if args[0] != "compact":  # compaction leaves them where they are, silently: it reads none of them
        assert len(warnings) == 1, out.stderr
        assert all(name in warnings[0] or "more" in warnings[0] for name in BAD[:3])
        assert "driftline doctor" in warnings[0]
    for name in BAD:
        assert (next((damaged_root / "spans").glob("date=*/hour=*")) / name).exists()


def test_the_reports_keep_every_readable_row(damaged_root: Path) -> None:
    out = driftline("sql", "--data", str(damaged_root), "--format", "csv", "SELECT count(*) AS n FROM runs")
    assert out.returncode == 0 and out.stdout.splitlines()[1] == "60", out
    out = driftline("diff", "v1", "v2", "--data", str(damaged_root), "--format", "json")
    assert '"tools"' in out.stdout and '"lookup"' in out.stdout  # the dropped tool is found


def test_the_doctor_names_each_file_and_why(damaged_root: Path) -> None:
    out = driftline("doctor", "--data", str(damaged_root))
    assert out.returncode == 1
    text = out.stdout
    assert "junk.parquet (not a Parquet file)" in text
    assert "foreign.parquet (no trace_id column)" in text
    assert "a-logs-file.parquet (a logs file, not spans)" in text
    assert "wrong-types.parquet (column trace_id is int64, expected string)" in text
