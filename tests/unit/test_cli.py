"""The CLI: help with examples, usage errors exit 2, compact and conventions over real data."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from driftline.analysis.cli import cli
from driftline.collector import otlp
from driftline.collector.normalize.normalizer import NormalizeOptions, SpanNormalizer
from driftline.collector.receiver.codec import json_to_protobuf
from driftline.collector.sink.parquet import ParquetSink

FIXTURES = Path(__file__).parents[1] / "fixtures" / "otlp"


@pytest.mark.parametrize("command", ["serve", "compact", "conventions"])
def test_help_shows_an_example(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0 and "Example:" in result.output and "driftline " + command in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "--no-grpc", "--no-http"],
        ["serve", "--tls-cert", "/nonexistent.pem"],
        ["serve", "--grpc-port", "notanumber"],
        ["serve", "--instance-id", "bad id/"],
    ],
)
def test_serve_usage_errors_exit_2(args: list[str], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, [*args, "--data", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "Error" in result.output


def _load_fixtures(root: Path) -> None:
    sink = ParquetSink(str(root))
    for i, path in enumerate(sorted(FIXTURES.rglob("*.json"))):
        norm = SpanNormalizer(NormalizeOptions())
        norm.add_request(otlp.parse("traces", json_to_protobuf("traces", path.read_bytes())), 1)
        sink.write("spans", norm.table(), norm.hours, f"fx-{i:012d}")


def test_conventions_report(tmp_path: Path) -> None:
    _load_fixtures(tmp_path)
    result = CliRunner().invoke(cli, ["conventions", "--data", str(tmp_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {(r["service"], r["scope"]): r for r in json.loads(result.output)}
    oi = rows[("fixture-oi-agent", "openinference.instrumentation.langchain")]
    assert oi["conventions"] == {"openinference": 4} and oi["share_tool_spans_named"] == 1.0
    assert oi["share_with_model"] == 0.25
    assert oi["model_calls"] == {"counted": 1, "wrappers": 0, "other_with_tokens": 0}
    assert {"key": "tool.description", "spans": 1} in oi["top_unmapped_keys"]
    vercel = rows[("fixture-vercel", "ai")]
    assert vercel["conventions"] == {"vercel_ai": 3} and vercel["share_with_tokens"] == round(2 / 3, 3)
    table = CliRunner().invoke(cli, ["conventions", "--data", str(tmp_path)])
    assert "fixture-vercel / ai: 3 spans (vercel_ai 3)" in table.output
    assert "model calls counted" in table.output


def test_conventions_without_data_is_an_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["conventions", "--data", str(tmp_path / "nope")])
    assert result.exit_code == 1 and "no span data" in result.output


def test_compact_command(tmp_path: Path) -> None:
    _load_fixtures(tmp_path)
    old = time.time() - 3600
    for p in tmp_path.rglob("*.parquet"):
        os.utime(p, (old, old))
    result = CliRunner().invoke(cli, ["compact", "--data", str(tmp_path)])
    assert result.exit_code == 0 and "compacted" in result.output
    assert CliRunner().invoke(cli, ["compact", "--data", str(tmp_path / "missing")]).exit_code == 1


def test_cli_starts_without_the_collector_extra() -> None:
    """An install with only the base (or only [analysis]) still starts; `serve` says what to install."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "for name in ('grpc', 'pyarrow', 'prometheus_client', 'google.rpc'):\n"
        "    sys.modules[name] = None  # as if the [collector] extra were not installed\n"
        "from driftline.analysis.cli import cli\n"
        "cli(sys.argv[1:])\n"
    )
    help_run = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True, timeout=60)
    assert help_run.returncode == 0 and "serve" in help_run.stdout
    serve_run = subprocess.run(
        [sys.executable, "-c", code, "serve", "--grpc-port", "0", "--http-port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert serve_run.returncode == 1
    assert "pip install 'driftline[collector]'" in serve_run.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["versions"],
        ["runs"],
        ["cost"],
        ["sql", "select 1"],
        ["diff", "v1", "v2"],
        ["conventions"],
        ["models"],
        ["baseline", "show"],
        ["baseline", "clear"],
    ],
    ids=lambda a: a[0],
)
def test_a_data_root_that_does_not_exist_is_an_error_naming_it(tmp_path: Path, args: list[str]) -> None:
    """A mistyped --data used to print empty tables and exit 0; now one line names the path, exit 1."""
    missing = tmp_path / "driftlin-data"
    result = CliRunner().invoke(cli, [*args, "--data", str(missing)])
    assert result.exit_code == 1, result.output
    assert str(missing) in result.output and "is --data right?" in result.output
    assert "Traceback" not in result.output
