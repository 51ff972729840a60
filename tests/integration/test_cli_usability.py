"""The CLI as a new user meets it (issue 19): run ids printed whole or as unique prefixes and accepted
as any unique prefix, the diff readable at 80 columns and in logs, `watch` and a mistyped --data."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.span_rows import add_span, agent_runs, store


def driftline(*args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run(
        [sys.executable, "-m", "driftline.analysis.cli", *args], capture_output=True, text=True, timeout=120, env=env
    )


TWINS = ("abcdef0123456789" + "0" * 16, "abcdef0123456789" + "1" * 16)  # share a 16-character prefix


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("usable") / "data"
    agent_runs(root, "v1", 40, tools=("search_knowledge_base", "lookup_order"))
    agent_runs(root, "v2", 40, tools=("lookup_order",), start_ms=60_000)
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    for n, trace in enumerate(TWINS):
        attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "twin", "gen_ai.agent.version": "v3"}
        add_span(ss, trace, f"{n + 1:016x}", None, "invoke_agent twin", attrs, 200_000 + n, 10)
    store(root, req, "rx-twins")
    return root


def test_runs_prints_ids_that_inspect_accepts(root: Path) -> None:
    out = driftline("runs", "--data", str(root), "--limit", "100")
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if re.match(r"^ ?[0-9a-f]{12}", line)]
    assert len(lines) == 82
    shown = [line.split()[0] for line in lines]
    assert all("…" not in s for s in shown)
    # each printed id names one run: inspect takes it as it is
    for short in shown[:3] + [s for s in shown if s.startswith("abcdef")]:
        got = driftline("inspect", short, "--data", str(root))
        assert got.returncode == 0, got.stderr
    # the twins need more than 12 characters to be told apart, and get them
    twins = sorted(s for s in shown if s.startswith("abcdef"))
    assert [len(t) for t in twins] == [17, 17] and twins[0] != twins[1]


def test_inspect_takes_a_bare_trace_id_and_refuses_an_ambiguous_prefix(root: Path) -> None:
    got = driftline("inspect", TWINS[0], "--data", str(root))
    assert got.returncode == 0 and "invoke_agent twin" in got.stdout
    got = driftline("inspect", "abcdef012345", "--data", str(root))
    assert got.returncode == 1
    assert got.stderr.strip().startswith("Error: run id 'abcdef012345' is ambiguous")
    assert TWINS[0] in got.stderr and TWINS[1] in got.stderr and len(got.stderr.strip().splitlines()) == 1
    got = driftline("inspect", "ffffffffffff", "--data", str(root))
    assert got.returncode == 1 and "no run 'ffffffffffff'" in got.stderr


def test_the_diff_is_compact_at_80_columns_and_in_logs(root: Path) -> None:
    out = driftline("diff", "v1", "v2", "--data", str(root))
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "dimens…" not in text and "baseli…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    # a dimension that moved: its name whole on one line, its figures on the next
    lines = text.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith("✗ Tools called: search_knowledge_base"))
    assert "moved" in lines[i] and "→" in lines[i + 1] and "p " in lines[i + 1]
    assert any(line.startswith("· no significant change:") for line in lines)


def test_a_wide_terminal_still_gets_the_table(root: Path) -> None:
    import io

    from rich.console import Console

    from driftline.analysis.cost import load_prices
    from driftline.analysis.db import connect
    from driftline.analysis.diff.build import build_report
    from driftline.analysis.diff.engine import StatSettings
    from driftline.analysis.diff.sides import SideSpec
    from driftline.analysis.report.terminal import render

    con = connect(str(root))
    report = build_report(
        con, SideSpec("v1"), SideSpec("v2"), settings=StatSettings(), prices=load_prices(), data_root=str(root)
    )
    wide = Console(file=io.StringIO(), width=200, force_terminal=True, color_system=None)
    render(report, wide)
    assert "┃ dimension" in wide.file.getvalue()
    narrow = Console(file=io.StringIO(), width=80, force_terminal=True, color_system=None)
    render(report, narrow)
    assert "┃ dimension" not in narrow.file.getvalue() and "✗ Tools called" in narrow.file.getvalue()


def test_baseline_history_lists_every_record_and_show_names_the_scopes_that_have_one(root: Path) -> None:
    assert driftline("baseline", "set", "v1", "--agent", "support", "--data", str(root)).returncode == 0
    out = driftline("baseline", "show", "--history", "--data", str(root))
    assert out.returncode == 0 and "v1  40 runs  [--agent support]" in out.stdout, out.stdout
    out = driftline("baseline", "show", "--data", str(root))
    assert "no baseline recorded for the whole root" in out.stdout and "exist for --agent support" in out.stdout
    out = driftline("baseline", "show", "--agent", "support", "--data", str(root))
    assert "v1  40 runs" in out.stdout


def test_listings_keep_one_line_per_row_piped_and_on_a_narrow_terminal(root: Path) -> None:
    import io

    from rich.console import Console

    from driftline.analysis.report.tables import Column, print_table

    out = driftline("versions", "--data", str(root))  # piped: every column, whole
    rows = [line for line in out.stdout.splitlines() if re.match(r"^v[123] ", line)]
    assert len(rows) == 3 and all("support" in r or "twin" in r for r in rows), out.stdout
    columns = [Column("id"), Column("when", drop=1), Column("n", right=True), Column("what", shrink=True)]
    cells = [("a" * 30, "2026-12-02 12:00:00", "7", "x → " * 40)] * 3
    term = Console(file=io.StringIO(), width=60, force_terminal=True, color_system=None)
    print_table(columns, cells, term)
    lines = term.file.getvalue().splitlines()
    assert all(len(line) <= 60 for line in lines) and sum("a" * 30 in line for line in lines) == 3
    assert "not shown at this width: when" in term.file.getvalue()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('min_runs = "fifty"', "min_runs = 'fifty': expected a whole number >= 2"),
        ('[stats]\nalpha = "high"', "[stats] alpha = 'high': expected a number"),
        (
            '[[hypothesis]]\nid = "mine"\ndimension = "tool"\ntext = "x"',
            "[[hypothesis]] mine: unknown dimension 'tool'",
        ),
        ('[[hypothesis]]\nid = "mine"\ndimension = "tools"\ndirection = "sideways"\ntext = "x"', "direction must be"),
        ('[[hypothesis]]\ndimension = "tools"', "[[hypothesis]] entry 1: needs an id"),
        ('dataa = "/x"', "unknown key 'dataa'"),
        ('[cli.diff]\nformat = "pdf"', "[cli.diff] format = 'pdf': 'pdf' is not one of terminal, markdown, json, html"),
        ("[dimensions.tools]\nweight = -1", "[dimensions.tools]: need weight > 0"),
        ('[[report]]\nname = "r"\ncron = "every hour"\nbaseline = "v1"\ncandidate = "v2"', "not a valid cron"),
        ("[rca]\ntimeout = -3", "[rca] timeout"),
        ("[nonsense]\nx = 1", "unknown table [nonsense]"),
    ],
)
def test_config_mistakes_are_reported_on_load_naming_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "driftline.toml"
    path.write_text(text + "\n")
    out = driftline("--config", str(path), "versions", "--data", str(tmp_path))
    assert out.returncode == 1
    line = out.stderr.strip()
    assert len(line.splitlines()) == 1 and line.startswith(f"Error: {path}") and message in line, line


def test_a_config_option_may_be_named_by_its_flag(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "driftline.toml"
    path.write_text('[cli.diff]\nformat = "markdown"\n')
    out = driftline("--config", str(path), "diff", "v1", "v2", "--data", str(root))
    assert out.returncode == 0 and out.stdout.startswith("## "), out.stderr


def test_a_by_key_no_run_carries_is_an_error(root: Path) -> None:
    out = driftline("diff", "v1", "v2", "--by", "nonexistent.key", "--data", str(root))
    assert out.returncode == 1
    assert "--by nonexistent.key: no run of either side carries this key" in out.stderr


def test_the_readme_plain_duckdb_query_works_as_printed(root: Path, tmp_path: Path) -> None:
    """The README's query, run with the Python duckdb package from a directory holding driftline-data:
    every chat span's tokens land under its run's version (none under a NULL version)."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = re.search(r'```bash\npython -c "\n(import duckdb\n.*?)\n"\n```', readme, re.S)
    assert block, "the README's plain-DuckDB example is gone"
    (tmp_path / "driftline-data").symlink_to(root)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            block.group(1).replace(".show()", ".fetchall()").replace("duckdb.sql(", "print(duckdb.sql(") + ")",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    rows = eval(out.stdout)  # a list of tuples printed by Python itself
    chat = {r[0]: r[3] for r in rows if r[1] == "chat"}
    assert set(chat) == {"v1", "v2"} and all(tokens > 0 for tokens in chat.values()), rows


def test_the_readme_weights_are_the_configured_ones() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    quoted = dict(re.findall(r"(outcome|tools) \((?:weight )?(0\.\d+)\)", readme))
    out = driftline("config")
    weights = {m[0]: m[1] for m in re.findall(r"^  (\w+)\s+([0-9.]+)\s+[0-9.]+\s", out.stdout, re.M)}
    assert quoted and all(float(weights[k]) == float(v) for k, v in quoted.items()), (quoted, weights)


def test_an_insufficient_verdict_shows_no_score_and_segments_read_as_titles(root: Path) -> None:
    out = driftline("diff", "v1", "v2", "--data", str(root), "--min-runs", "500", "--format", "markdown")
    assert out.returncode == 0 and "INSUFFICIENT" in out.stdout
    assert "No score (too few runs)" in out.stdout and "Drift score" not in out.stdout
    out = driftline("diff", "v1", "v2", "--data", str(root), "--min-runs", "500")
    assert "no score (too few runs)" in out.stdout and "drift score" not in out.stdout
    out = driftline("diff", "v1", "v2", "--data", str(root), "--by", "agent", "--format", "markdown")
    segment_rows = [line for line in out.stdout.splitlines() if line.startswith("| agent=")]
    assert segment_rows and "Tools called" in segment_rows[0] and "tool_bigrams" not in segment_rows[0]


def test_html_hypotheses_show_names_as_code(root: Path, tmp_path: Path) -> None:
    out = driftline("diff", "v1", "v2", "--data", str(root), "--html", str(tmp_path / "r.html"))
    assert out.returncode == 0
    page = (tmp_path / "r.html").read_text()
    assert "<code>search_knowledge_base</code>" in page and "`search_knowledge_base`" not in page


def test_compare_several_versions_as_a_table_and_a_matrix(root: Path) -> None:
    import json

    out = driftline("compare", "v1", "v2", "v3", "--matrix", "--format", "json", "--data", str(root))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["pairs"] == 3 and abs(doc["alpha_per_pair"] - 0.05 / 3) < 1e-12
    cells = {(c["baseline"], c["candidate"]): c for c in doc["comparisons"]}
    assert set(cells) == {("v1", "v2"), ("v1", "v3"), ("v2", "v3")}
    assert cells[("v1", "v2")]["verdict"] in ("review", "block") and "Tools called" in cells[("v1", "v2")]["moved"]
    assert cells[("v1", "v3")]["verdict"] == "insufficient" and cells[("v1", "v3")]["score"] is None
    table = driftline("compare", "v1", "v2", "--data", str(root))
    assert table.returncode == 0 and re.search(r"^v1\s+v2\s+40 / 40\s+(REVIEW|BLOCK)", table.stdout, re.M), table.stdout
    gate = driftline("compare", "v1", "v2", "--fail-on", "review", "--data", str(root))
    assert gate.returncode == 3
    unknown = driftline("compare", "v1", "v9", "--data", str(root))
    assert unknown.returncode == 1 and "no runs of version 'v9'" in unknown.stderr


def test_promote_takes_the_short_ids_runs_prints(root: Path) -> None:
    out = driftline("runs", "--version", "v2", "--limit", "2", "--data", str(root))
    short = [line.split()[0] for line in out.stdout.splitlines() if re.match(r"^[0-9a-f]{12}", line)]
    assert len(short) == 2
    done = driftline("baseline", "promote", "pair", *short, "--data", str(root))
    assert done.returncode == 0 and "2 runs" in done.stdout, done.stderr
    ambiguous = driftline("baseline", "promote", "twins", "abcdef012345", "--data", str(root))
    assert ambiguous.returncode == 1 and "is ambiguous" in ambiguous.stderr


def test_a_history_report_name_never_reaches_the_filesystem_as_a_path(root: Path) -> None:
    out = driftline("history", "--report", "../../etc", "--data", str(root))
    assert out.returncode == 1 and "a report name is letters" in out.stderr


def test_every_command_has_help_with_an_example() -> None:
    import click

    from driftline.analysis.cli import cli

    missing = []

    def walk(cmd: click.Command, path: list[str]) -> None:
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])
            return
        text = cmd.get_help(click.Context(cmd, info_name=" ".join(path)))
        if "Example" not in text:
            missing.append(" ".join(path))

    walk(cli, [])
    assert not missing, missing
    out = driftline("tail", "--help")  # and it is what a user sees, as a subprocess
    assert out.returncode == 0 and "Examples:" in out.stdout


def test_versions_inspect_and_doctor_speak_json(root: Path) -> None:
    import json

    rows = json.loads(driftline("versions", "--format", "json", "--data", str(root)).stdout)
    assert [r["version"] for r in rows] == ["v1", "v2", "v3"] and rows[0]["runs"] == 40
    doc = json.loads(driftline("inspect", TWINS[0], "--format", "json", "--data", str(root)).stdout)
    assert doc["trace_id"] == TWINS[0] and [s["name"] for s in doc["spans"]] == ["invoke_agent twin"]
    checks = json.loads(driftline("doctor", "--json", "--data", str(root)).stdout)
    assert {"status", "what", "detail", "fix"} <= set(checks[0]) and any(c["what"] == "encryption" for c in checks)
