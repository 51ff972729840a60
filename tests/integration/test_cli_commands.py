"""The commands users of Grafana, Evidently and the OTel Collector expect, run as a user runs them (a
subprocess each): init, bookmark, git compare (and the version from git describe), tail -f, status,
chart and reset (issue 19)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.span_rows import MS, T0, agent_runs

NOW_MS = (time.time_ns() - T0) // MS  # start_ms of a run starting now


def driftline(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, stdin: str | None = None):
    return subprocess.run(
        [sys.executable, "-m", "driftline.analysis.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "100", **(env or {})},
        input=stdin,
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    agent_runs(root, "v1", 35, tools=("search", "lookup"), start_ms=NOW_MS - 3_600_000)
    agent_runs(root, "v2", 35, tools=("search",), start_ms=NOW_MS - 1_800_000)
    return root


def test_init_writes_a_config_every_command_accepts_even_uncommented(tmp_path: Path) -> None:
    out = driftline("init", "--data", "./d", cwd=tmp_path)
    assert out.returncode == 0 and "from driftline.instrumentation import setup" in out.stdout
    assert driftline("config", cwd=tmp_path).returncode == 0
    again = driftline("init", cwd=tmp_path)
    assert again.returncode == 1 and "exists" in again.stderr
    # every commented setting, uncommented, is still a valid file (the template and the checks agree)
    text = (tmp_path / "driftline.toml").read_text()
    live = "\n".join(re.sub(r"^# (?=\[|\w+ = )", "", line).split("  #")[0].rstrip() for line in text.splitlines())
    (tmp_path / "all.toml").write_text(live)
    out = driftline("--config", str(tmp_path / "all.toml"), "config", cwd=tmp_path)
    assert out.returncode == 0, out.stderr + live


def test_bookmarks_save_list_run_and_delete(root: Path, tmp_path: Path) -> None:
    env = {"DRIFTLINE_BOOKMARKS": str(tmp_path / "marks.json")}
    out = driftline("bookmark", "save", "daily", f"diff v1 v2 --data {root} --format json", env=env)
    assert out.returncode == 0, out.stderr
    assert "daily" in driftline("bookmark", "list", env=env).stdout
    ran = driftline("bookmark", "run", "daily", env=env)
    assert ran.returncode == 0 and json.loads(ran.stdout)["verdict"]["verdict"] in ("review", "block")
    gated = driftline("bookmark", "run", "daily", "--fail-on-drift", env=env)  # extra arguments appended
    assert gated.returncode == 3
    bad = driftline("bookmark", "save", "x", "rm -rf /", env=env)
    assert bad.returncode == 2 and "does not start with a driftline command" in bad.stderr
    assert driftline("bookmark", "save", "daily", "runs", env=env).returncode == 1  # exists: --force
    assert driftline("bookmark", "delete", "daily", env=env).returncode == 0
    missing = driftline("bookmark", "run", "daily", env=env)
    assert missing.returncode == 1 and "no bookmark 'daily'" in missing.stderr


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_git_names_versions_for_setup_and_compare(root: Path, tmp_path: Path) -> None:
    repo = tmp_path / "app"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "one")
    _git(repo, "tag", "v1")
    _git(repo, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "two")
    _git(repo, "tag", "v2")
    out = driftline("git", "compare", "--repo", str(repo), "v1", "v2", "--data", str(root), "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert (doc["baseline"]["label"], doc["candidate"]["label"]) == ("v1", "v2")
    bad = driftline("git", "compare", "--repo", str(repo), "v1", "nope", "--data", str(root))
    assert bad.returncode == 1 and "git cannot describe 'nope'" in bad.stderr
    # an agent run given no version (by an app that names none) is named by git describe of the work tree;
    # setup(version="git") names the service that way too
    head = (
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter\n"
        "from driftline.instrumentation import agent_run, setup\n"
        "e = InMemorySpanExporter()\n"
    )
    run = (
        "with agent_run('a'):\n    pass\np.force_flush()\n"
        "print(e.get_finished_spans()[0].attributes.get('gen_ai.agent.version'))\n"
    )
    cases = {
        "p = setup(service_name='app', span_exporter=e)\n" + run: "v2",
        "p = setup(service_name='app', version='v9', span_exporter=e)\n"
        + run: "None",  # the service's version names it
        "p = setup(service_name='app', version='git', span_exporter=e)\n"
        "print(p.resource.attributes['service.version'])\n": "v2",
    }
    for code, expected in cases.items():
        named = subprocess.run(
            [sys.executable, "-c", head + code], cwd=repo, capture_output=True, text=True, timeout=60
        )
        assert named.stdout.strip() == expected, (code, named.stdout, named.stderr)


def test_tail_prints_the_latest_runs_then_follows_new_ones(root: Path) -> None:
    out = driftline("tail", "-n", "3", "--version", "v2", "--data", str(root))
    lines = out.stdout.splitlines()
    assert out.returncode == 0 and len(lines) == 3 and all(" v2 " in line for line in lines)
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  [0-9a-f]{32}:[0-9a-f]{16}  v2  support  OK", lines[0])
    follow = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "driftline.analysis.cli",
            "tail",
            "-f",
            "-n",
            "0",
            "--interval",
            "0.3",
            "--format",
            "json",
            "--data",
            str(root),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(3)  # it is looking
        new = set(agent_runs(root, "v3", 4, start_ms=NOW_MS - 60_000, stem="rx-late"))
        got = []
        deadline = time.monotonic() + 60
        while len(got) < 4 and time.monotonic() < deadline:
            line = follow.stdout.readline()
            if line:
                got.append(json.loads(line))
        assert {r["run_id"].split(":")[0] for r in got} == new and all(r["version"] == "v3" for r in got)
    finally:
        follow.terminate()
        follow.wait(timeout=20)


def test_status_is_one_screen_and_json(root: Path) -> None:
    out = driftline("status", "--data", str(root), "--endpoint", "http://127.0.0.1:9")
    assert out.returncode == 0, out.stderr
    assert "receiver    DOWN" in out.stdout and "runs (24 h) v1 35 (0 errors), v2 35 (0 errors)" in out.stdout
    doc = json.loads(driftline("status", "--data", str(root), "--format", "json").stdout)
    assert {v["version"]: v["runs"] for v in doc["runs_last_24h"]} == {"v1": 35, "v2": 35}
    assert doc["ingest"]["spans"] > 0 and doc["disk_bytes"]["spans"] > 0 and doc["baseline"] is None


def test_chart_draws_bars_with_the_runs_view_numbers(root: Path) -> None:
    doc = json.loads(
        driftline("chart", "-v", "v1", "-v", "v2", "-m", "tools", "--format", "json", "--data", str(root)).stdout
    )
    assert doc["labels"][0] == "search" and doc["values"]["v1"] == [1.0, 1.0] and doc["values"]["v2"] == [1.0, 0.0]
    text = driftline("chart", "-v", "v1", "-v", "v2", "-m", "tools", "--data", str(root)).stdout
    assert re.search(r"^lookup\s+v1 █{40} 100\.0%$", text, re.M) and re.search(r"^\s+v2\s+0\.0%$", text, re.M)
    for metric in ("latency", "outcomes", "cost"):
        out = driftline("chart", "-v", "v2", "-m", metric, "--data", str(root))
        assert out.returncode == 0 and "█" in out.stdout, (metric, out.stdout)
    bad = driftline("chart", "-v", "v9", "--data", str(root))
    assert bad.returncode == 1 and "no runs of version 'v9'" in bad.stderr


def test_reset_deletes_one_version_after_asking_and_keeps_the_others(root: Path) -> None:
    def spans() -> dict[str, int]:
        q = "SELECT version, sum(llm_calls + tool_calls + 1) AS n FROM runs GROUP BY 1 ORDER BY 1"
        rows = json.loads(driftline("sql", "--data", str(root), "--format", "json", q).stdout)
        return {r["version"]: r["n"] for r in rows}

    before = spans()
    dry = driftline("reset", "--version", "v2", "--dry-run", "--data", str(root))
    assert dry.returncode == 0 and "would delete 35 run(s) of v2: 105 spans" in dry.stdout
    refused = driftline("reset", "--version", "v2", "--data", str(root), stdin="")
    assert refused.returncode == 1 and "confirm with --yes" in refused.stderr
    assert spans() == before
    done = driftline("reset", "--version", "v2", "--yes", "--json", "--data", str(root))
    assert done.returncode == 0 and json.loads(done.stdout)["spans"] == 105
    assert spans() == {"v1": before["v1"]}
    gone = driftline("runs", "--version", "v2", "--data", str(root))
    assert gone.returncode == 1 and "no runs of version 'v2'" in gone.stderr
