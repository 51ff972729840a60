"""`driftline sql` and the DuckDB views: deduplication, formats, empty roots, the shell, errors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from click.testing import CliRunner

from driftline.analysis.cli import cli
from driftline.analysis.db import connect
from driftline.collector import otlp
from driftline.collector.normalize.normalizer import NormalizeOptions, SpanNormalizer
from driftline.collector.receiver.codec import json_to_protobuf
from driftline.collector.sink.parquet import ParquetSink

FIXTURES = Path(__file__).parents[1] / "fixtures" / "otlp"


def _load(root: Path, copies: int = 1) -> int:
    """Write every fixture, ``copies`` times under different receiver names; returns distinct spans."""
    sink = ParquetSink(str(root))
    distinct = 0
    for i, path in enumerate(sorted(FIXTURES.rglob("*.json"))):
        norm = SpanNormalizer(NormalizeOptions())
        norm.add_request(otlp.parse("traces", json_to_protobuf("traces", path.read_bytes())), 1)
        distinct += len(norm.rows)
        for copy in range(copies):
            sink.write("spans", norm.table(), norm.hours, f"rx{copy}-{i:012d}")
    return distinct


def test_views_deduplicate_and_split_by_operation(tmp_path: Path) -> None:
    distinct = _load(tmp_path, copies=2)  # as if two receivers had both stored every span
    con = connect(str(tmp_path))
    assert con.execute("SELECT count(*) FROM spans").fetchone()[0] == distinct
    llm = con.execute("SELECT count(*) FROM llm_calls").fetchone()[0]
    tools = con.execute("SELECT count(*) FROM tool_calls").fetchone()[0]
    ops = dict(con.execute("SELECT operation, count(*) FROM spans GROUP BY 1").fetchall())
    assert llm == ops.get("chat", 0) + ops.get("embeddings", 0) + ops.get("text_completion", 0) and llm > 0
    assert tools == ops["execute_tool"] and tools > 0
    assert con.execute("SELECT count(*) FROM logs").fetchone()[0] == 0


def test_formats(tmp_path: Path) -> None:
    _load(tmp_path)
    query = "SELECT convention, count(*) AS n FROM spans GROUP BY 1 ORDER BY 1"
    out = CliRunner().invoke(cli, ["sql", "--data", str(tmp_path), "--format", "json", query])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert [r["convention"] for r in rows] == ["genai", "openinference", "openllmetry", "vercel_ai"]
    out = CliRunner().invoke(cli, ["sql", "--data", str(tmp_path), "--format", "csv", query])
    assert next(iter(csv.reader(io.StringIO(out.output)))) == ["convention", "n"]
    out = CliRunner().invoke(cli, ["sql", "--data", str(tmp_path), query])
    assert "vercel_ai" in out.output and "convention" in out.output


def test_empty_root_has_the_canonical_columns(tmp_path: Path) -> None:
    out = CliRunner().invoke(
        cli,
        [
            "sql",
            "--data",
            str(tmp_path),
            "--format",
            "json",
            "SELECT count(*) AS n, count(request_model) AS m FROM llm_calls",
        ],
    )
    assert out.exit_code == 0 and json.loads(out.output) == [{"n": 0, "m": 0}]


def test_bad_sql_is_a_one_line_error(tmp_path: Path) -> None:
    out = CliRunner().invoke(cli, ["sql", "--data", str(tmp_path), "SELEC 1"])
    assert out.exit_code == 1 and "query failed" in out.output and len(out.output.strip().splitlines()) == 1


def test_shell_reads_statements_until_quit(tmp_path: Path) -> None:
    _load(tmp_path)
    script = "SELECT count(*) AS n\nFROM tool_calls;\nSELEC oops;\nSELECT 41 + 1 AS answer;\n.quit\nSELECT 'never';\n"
    out = CliRunner().invoke(cli, ["sql", "--data", str(tmp_path), "--format", "csv"], input=script)
    assert out.exit_code == 0
    assert "answer\n42" in out.output and "never" not in out.output and "error:" in out.output


def test_timestamps_come_out_in_every_format(tmp_path: Path) -> None:
    _load(tmp_path)
    query = "SELECT start_time, end_time FROM spans ORDER BY start_time LIMIT 1"
    for fmt in ("json", "csv", "table"):
        out = CliRunner().invoke(cli, ["sql", "--data", str(tmp_path), "--format", fmt, query])
        assert out.exit_code == 0, out.output
        assert "20" in out.output  # a year
