"""`driftline demo` data (real instrumentation → OTLP → receiver → Parquet), then every analysis
command a user runs on it: diff in all formats, gates and exit codes, reports, signing, baselines,
cost, versions, runs, inspect, configuration precedence."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from driftline.analysis.cli import cli
from driftline.analysis.report.json_render import schema


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("demo") / "data"
    out = subprocess.run(
        [sys.executable, "-m", "driftline.analysis.cli", "demo", "--runs", "150", "--data", str(root)],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "HTML report:" in out.stdout and (root / "reports" / "demo-v1.0-v2.0.html").exists()
    return str(root)


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def test_diff_json_matches_the_schema_and_finds_the_regression(demo_root: str) -> None:
    code, out = run("diff", "v1.0", "v2.0", "--data", demo_root, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    jsonschema.validate(doc, schema())
    assert doc["verdict"]["verdict"] == "block"
    moved = {d["name"]: d for d in doc["dimensions"] if d["status"] == "moved"}
    assert moved["tools"]["focus"] == "search_knowledge_base" and moved["tools"]["effect"] < -0.15
    assert {"input_tokens", "llm_time_ms"} <= set(moved)
    rules = [h["rule"] for h in doc["hypotheses"]]
    assert rules[0] == "tool_dropped" and "token_bloat" in rules
    # the prompt change is quoted once, in the strongest hypothesis citing it; the others point back to it
    quoted = [h for h in doc["hypotheses"] if "prompt template (hash)" in h["text"]]
    assert len(quoted) == 1 and any("(After the configuration change in" in h["text"] for h in doc["hypotheses"])
    assert any(c["key"] == "prompts" for c in doc["configuration_changes"])
    assert doc["cost"]["delta_per_10k_runs"] > 0 and doc["cost"]["candidate_sources"]["table"] > 0
    # the demo records decisions, signals, failures and memory: compared, and described as behaviour
    compared = {d["name"]: d for d in doc["dimensions"] if d["status"] != "no data"}
    assert {"decisions", "decision_confidence", "signals", "failures", "memory_reads", "memory_writes"} <= set(compared)
    assert moved["decision_confidence"]["effect"] < 0  # v2.0 decides with less confidence
    assert "decision_confidence_shift" in rules
    assert any("behaves differently" in r for r in doc["verdict"]["reasons"])


def test_terminal_markdown_html_and_gates(demo_root: str, tmp_path: Path) -> None:
    code, out = run("diff", "previous", "latest", "--data", demo_root, "--html", str(tmp_path / "r.html"))
    assert code == 0 and "BLOCK" in out and "Hypotheses" in out and "search_knowledge_base" in out
    page = (tmp_path / "r.html").read_text()
    assert "BLOCK" in page and "<svg" in page and not re.search(r"(src|href)=\"https?://", page)
    code, out = run("diff", "v1.0", "v2.0", "--data", demo_root, "--format", "markdown", "--fail-on-drift")
    assert code == 3 and out.startswith("## 🔴 Driftline: **BLOCK**") and "| dimension |" in out
    code, _ = run("diff", "v1.0", "v1.0", "--data", demo_root, "--fail-on-drift")
    assert code == 0  # a version against itself is stable
    code, _ = run("diff", "v1.0", "v2.0", "--data", demo_root, "--max-score", "0.01")
    assert code == 3
    assert run("diff", "v1.0", "v2.0", "--data", demo_root, "--fail-on", "block")[0] == 3
    assert run("diff", "v1.0", "v1.0", "--data", demo_root, "--fail-on", "review")[0] == 0


def test_bad_input_gets_a_clear_message_and_exit_code(demo_root: str) -> None:
    code, out = run("diff", "v1.0", "v9", "--data", demo_root)
    assert code == 1 and "no runs of version 'v9'" in out and "v2.0" in out
    code, runs_out = run("runs", "--version", "v9", "--data", demo_root)  # one rule for unknown versions
    assert code == 1 and runs_out.strip() == out.strip(), (runs_out, out)
    code, out = run("diff", "v1.0", "v2.0", "v3", "--data", demo_root)
    assert code == 2 and "at most two" in out
    code, out = run("diff", "v1.0", "v2.0", "--data", demo_root, "--since", "yesterday-ish")
    assert code == 2 and "cannot read time" in out
    code, out = run("diff", "v1.0", "v2.0", "--data", demo_root, "--min-runs", "1000")
    assert code == 0 and "INSUFFICIENT" in out and "more needed" in out


def test_segments_and_windows(demo_root: str) -> None:
    code, out = run(
        "diff", "v1.0", "v2.0", "--data", demo_root, "--by", "tenant.id", "--format", "json", "--min-runs", "20"
    )
    doc = json.loads(out)
    assert code == 0 and {s["value"] for s in doc["segments"]} <= {"acme", "globex", "initech"}
    assert len(doc["segments"]) == 3 and any(s["moved"] for s in doc["segments"])
    code, out = run(
        "diff",
        "--data",
        demo_root,
        "--baseline-since",
        "2000-01-01",
        "--candidate-since",
        "2000-01-01",
        "--format",
        "json",
    )
    assert code == 0 and json.loads(out)["verdict"]["verdict"] == "stable"  # the same runs on both sides


def test_eu_ai_act_report_is_signed_with_a_key_and_verified(demo_root: str, tmp_path: Path) -> None:
    code, out = run("keys", "generate", "--out-dir", str(tmp_path / "keys"), "--name", "pmm")
    assert code == 0 and "keep it secret" in out
    assert (tmp_path / "keys" / "pmm.key").stat().st_mode & 0o777 == 0o600
    code, out = run("keys", "generate", "--out-dir", str(tmp_path / "keys"), "--name", "pmm")
    assert code == 1 and "not overwriting" in out
    target = tmp_path / "pmm.html"
    args = ["report", "v1.0", "v2.0", "--data", demo_root, "--template", "eu-ai-act", "--system", "Support agent"]
    code, out = run(*args, "--sign", "--output", str(target))
    assert code == 2 and "--sign needs --signing-key" in out
    code, out = run(*args, "--sign", "--signing-key", str(tmp_path / "keys" / "pmm.key"), "--output", str(target))
    assert code == 0 and target.exists()
    text = target.read_text()
    assert "Article 72" in text and "Corrective and preventive actions" in text
    pub = str(tmp_path / "keys" / "pmm.pub")
    code, out = run("verify", str(target), "--public-key", pub)
    assert code == 0 and "signature valid" in out
    # an edit whose checksum is recomputed (what anyone can do) passes the checksum, never the signature
    from driftline.analysis.report import signing

    forged = signing.checksum(text.replace("Support agent", "Support bot"))
    target.write_text(forged)
    code, out = run("verify", str(target))
    assert code == 0 and "A checksum is not a signature" in out and "pass --public-key" in out
    code, out = run("verify", str(target), "--public-key", pub)
    assert code == 1 and "signature FAILED: the file was modified" in out
    target.write_text(text.replace("Support agent", "Support bot"))  # edited, checksum left stale
    code, out = run("verify", str(target))
    assert code == 1 and "checksum FAILED" in out
    # another key's public half does not verify it
    run("keys", "generate", "--out-dir", str(tmp_path / "keys"), "--name", "other")
    target.write_text(text)
    code, out = run("verify", str(target), "--public-key", str(tmp_path / "keys" / "other.pub"))
    assert code == 1 and "not by the given key" in out
    unsigned = tmp_path / "plain.html"
    assert run(*args, "--output", str(unsigned))[0] == 0
    code, out = run("verify", str(unsigned), "--public-key", pub)
    assert code == 1 and "no signature" in out
    assert run("verify", str(unsigned))[0] == 0  # a checksum is always written


def test_baseline_is_recorded_and_used(demo_root: str) -> None:
    code, out = run("baseline", "set", "v1.0", "--data", demo_root, "--note", "approved")
    assert code == 0 and "150 runs" in out
    code, out = run("diff", "v2.0", "--data", demo_root, "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["baseline"]["versions"] == ["v1.0"] and doc["baseline_record"]["note"] == "approved"
    run("baseline", "set", "v2.0", "--data", demo_root)
    code, out = run("baseline", "show", "--data", demo_root, "--history", "--json")
    history = json.loads(out)
    assert [r["version"] for r in history] == ["v1.0", "v2.0"] and history[1]["replaces"] == history[0]["id"]
    run("baseline", "clear", "--data", demo_root)
    code, out = run("diff", "v2.0", "--data", demo_root)
    assert code == 2 and "no baseline recorded" in out


def test_cost_versions_runs_inspect(demo_root: str) -> None:
    code, out = run("cost", "--data", demo_root, "--by", "version", "--format", "json")
    rows = {r["version"]: r for r in json.loads(out)}
    assert code == 0 and rows["v2.0"]["cost"] > rows["v1.0"]["cost"] and rows["v1.0"]["unpriced"] == 0
    code, _ = run("cost", "--data", demo_root, "--budget", "0.000001")
    assert code == 3
    code, out = run("versions", "--data", demo_root)
    assert code == 0 and "v1.0" in out and "v2.0" in out
    code, out = run("runs", "--data", demo_root, "--version", "v2.0", "--outcome", "escalated", "--format", "json")
    listed = json.loads(out)
    assert code == 0 and listed and all(r["outcome"] == "escalated" for r in listed)
    code, out = run("inspect", listed[0]["run_id"], "--data", demo_root)
    assert code == 0 and "execute_tool escalate_to_human" in out and "chat gpt-4o-mini" in out
    code, out = run("inspect", "nope", "--data", demo_root)
    assert code == 1 and "no run" in out


def test_config_precedence_flag_over_env_over_file(demo_root: str, tmp_path: Path) -> None:
    conf = tmp_path / "driftline.toml"
    conf.write_text(f'data = "{demo_root}"\n[stats]\nmin_runs = 1000\n[dimensions.outcome]\nfloor = 0.04\n')
    code, out = run("--config", str(conf), "config")
    assert code == 0 and "driftline.toml" in out and "1000" in out
    code, out = run("--config", str(conf), "diff", "v1.0", "v2.0", "--format", "json")
    assert json.loads(out)["verdict"]["verdict"] == "insufficient"  # file value
    code, out = run("--config", str(conf), "diff", "v1.0", "v2.0", "--format", "json", env={"DRIFTLINE_MIN_RUNS": "30"})
    doc = json.loads(out)
    assert doc["verdict"]["verdict"] == "block" and doc["settings"]["dimensions"]["outcome"]["floor"] == 0.04
    code, out = run(
        "--config",
        str(conf),
        "diff",
        "v1.0",
        "v2.0",
        "--format",
        "json",
        "--min-runs",
        "5000",
        env={"DRIFTLINE_MIN_RUNS": "30"},
    )
    assert json.loads(out)["verdict"]["verdict"] == "insufficient"  # the flag wins
    bad = tmp_path / "bad.toml"
    bad.write_text("[stats]\nalpah = 0.1\n")
    code, out = run("--config", str(bad), "versions")
    assert code == 1 and "alpah" in out
