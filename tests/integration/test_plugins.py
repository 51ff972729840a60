"""Plugins from an installed distribution's entry points (a dist-info on the path, as pip leaves it):
an extra dimension and its hypothesis rule in the diff, a report format, an alert sink, listed by
`driftline plugins`; a broken plugin is named and skipped, never stops a report (issue 19)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.span_rows import agent_runs

MODULE = textwrap.dedent("""
    import json
    from driftline.analysis.diff.dimensions import Dimension

    DIMS = [Dimension("mean_output_tokens", "Mean output tokens", "numeric", "output_tokens", 0.08, 0.05, 0.25,
                      center="mean", unit="tokens")]
    RULES = [{"id": "acme_wordier", "dimension": "mean_output_tokens", "direction": "up",
              "text": "Acme: answers take more tokens ({baseline} -> {candidate})."}]

    def render_csv(report):
        return "dimension,status\\n" + "".join(f"{d.name},{d.status}\\n" for d in report.dimensions)

    def page(sink, event):
        with open(sink["path"], "a") as f:
            f.write(json.dumps(event) + "\\n")
""")


def _dist(site: Path, name: str, entry_points: str) -> None:
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    (site / "acme_driftline.py").write_text(MODULE)
    _dist(
        site,
        "acme_driftline",
        """
        [driftline.dimensions]
        acme = acme_driftline:DIMS
        [driftline.hypotheses]
        acme = acme_driftline:RULES
        [driftline.renderers]
        csv = acme_driftline:render_csv
        [driftline.alerts]
        pager = acme_driftline:page
        """,
    )
    return site


def driftline(*args: str, path: list[Path], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, path))}
    return subprocess.run(
        [sys.executable, "-m", "driftline.analysis.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plugged") / "data"
    agent_runs(root, "v1", 40)
    agent_runs(root, "v2", 40, output_tokens=60, start_ms=60_000)
    return root


def test_plugins_are_listed_and_used_by_the_diff(site: Path, root: Path) -> None:
    listed = driftline("plugins", "--json", path=[site])
    assert listed.returncode == 0, listed.stderr
    names = {(p["group"], p["name"]) for p in json.loads(listed.stdout)}
    assert names == {
        ("driftline.dimensions", "acme"),
        ("driftline.hypotheses", "acme"),
        ("driftline.renderers", "csv"),
        ("driftline.alerts", "pager"),
    }
    out = driftline("diff", "v1", "v2", "--data", str(root), "--format", "json", path=[site])
    doc = json.loads(out.stdout)
    dims = {d["name"]: d for d in doc["dimensions"]}
    assert dims["mean_output_tokens"]["status"] == "moved"
    assert "acme_wordier" in {h["rule"] for h in doc["hypotheses"]}
    csv = driftline("diff", "v1", "v2", "--data", str(root), "--format", "csv", path=[site])
    assert csv.returncode == 0 and "mean_output_tokens,moved" in csv.stdout.splitlines()
    # without the plugin installed the format is not offered and the dimension is not there
    plain = driftline("diff", "v1", "v2", "--data", str(root), "--format", "csv", path=[])
    assert plain.returncode == 2 and "'csv' is not one of" in plain.stderr


def test_a_plugin_alert_sink_receives_the_scheduled_alert(site: Path, root: Path, tmp_path: Path) -> None:
    sent = tmp_path / "pages.jsonl"
    (tmp_path / "driftline.toml").write_text(
        textwrap.dedent(f"""
        data = "{root}"
        [[report]]
        name = "r"
        cron = "0 * * * *"
        baseline = "v1"
        candidate = "v2"
        output_dir = "{tmp_path / "reports"}"
        alerts = ["p"]
        [alerts.p]
        type = "pager"
        path = "{sent}"
        """)
    )
    out = driftline("schedule", "--once", "r", path=[site], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    event = json.loads(sent.read_text().splitlines()[0])
    assert event["report"] == "r" and event["verdict"] in ("review", "block")
    unknown = driftline("schedule", "--once", "r", path=[], cwd=tmp_path)  # no plugin: the type is unknown
    assert unknown.returncode == 1 and "type must be one of webhook, slack, command" in unknown.stderr


def test_a_broken_plugin_is_named_and_skipped(site: Path, root: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    _dist(broken, "broken_plugin", "[driftline.renderers]\nbad = no_such_module:render\n")
    listed = driftline("plugins", path=[site, broken])
    assert listed.returncode == 1 and "bad" in listed.stdout and "FAILED: ModuleNotFoundError" in listed.stdout
    out = driftline("diff", "v1", "v2", "--data", str(root), "--format", "json", path=[site, broken])
    assert out.returncode == 0 and "plugin bad (driftline.renderers) skipped" in out.stderr
    bad = driftline("diff", "v1", "v2", "--data", str(root), "--format", "bad", path=[site, broken])
    assert bad.returncode == 1 and "did not load" in bad.stderr
