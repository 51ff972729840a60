"""deploy/: every file parses, every driftline command line in it names real commands and flags
(checked by running --help on it), and the report command lines of systemd and the CronJob run
locally against a temporary data root."""

from __future__ import annotations

import configparser
import json
import re
import shlex
import tomllib
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from driftline.analysis.cli import cli

DEPLOY = Path(__file__).parents[2] / "deploy"


def _yaml_docs() -> list[tuple[Path, object]]:
    return [(p, d) for p in sorted(DEPLOY.rglob("*.y*ml")) for d in yaml.safe_load_all(p.read_text()) if d]


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def _walk(node: object) -> list[object]:
    found = [node]
    if isinstance(node, dict):
        for v in node.values():
            found += _walk(v)
    elif isinstance(node, list):
        for v in node:
            found += _walk(v)
    return found


def command_lines() -> list[tuple[str, list[str]]]:
    """(where, argv after `driftline`) for every driftline invocation in deploy/."""
    lines: list[tuple[str, list[str]]] = []
    for path, doc in _yaml_docs():
        for node in _walk(doc):
            if isinstance(node, dict) and str(node.get("image", "")).startswith("driftline") and "args" in node:
                lines.append((str(path), [str(a) for a in node["args"]]))
            if isinstance(node, dict) and "build" in node and "command" in node:
                lines.append((str(path), [str(a) for a in node["command"]]))
            if isinstance(node, str) and "driftline " in node:
                for line in node.replace("\\\n", " ").splitlines():
                    m = re.match(r"\s*driftline (.*)", line)  # a command line, not a mention in a message
                    if m:
                        argv = shlex.split(m.group(1).split(" || ")[0].split(" &")[0])
                        lines.append((str(path), argv))
    for path in sorted((DEPLOY / "systemd").glob("*.service")):
        exec_start = _unit(path)["Service"]["ExecStart"]
        lines.append((str(path), shlex.split(exec_start)[1:]))
    cmd = re.search(r"^CMD (\[.*\])$", (DEPLOY / "docker" / "Dockerfile").read_text(), re.M)
    assert cmd is not None
    lines.append(("Dockerfile", json.loads(cmd.group(1))))
    return lines


def test_every_file_parses() -> None:
    assert len(_yaml_docs()) >= 9
    for path in DEPLOY.rglob("*.toml"):
        tomllib.loads(path.read_text())
    for cm in (d for _, d in _yaml_docs() if isinstance(d, dict) and d.get("kind") == "ConfigMap"):
        tomllib.loads(cm["data"]["driftline.toml"])
    for path in sorted((DEPLOY / "systemd").glob("*.*")):
        unit = _unit(path)
        assert "Unit" in unit and ("Service" in unit or "Timer" in unit)
    assert len(command_lines()) >= 8


@pytest.mark.parametrize("where, argv", command_lines(), ids=lambda v: str(v)[-40:] if isinstance(v, str) else None)
def test_every_command_and_flag_exists(where: str, argv: list[str], tmp_path: Path) -> None:
    conf = tmp_path / "driftline.toml"
    conf.write_text("")
    argv = [str(conf) if a.endswith("driftline.toml") else a.replace("%i", "hourly-drift") for a in argv]
    argv = [a for a in argv if not a.startswith("${{")]
    result = CliRunner().invoke(cli, [*argv, "--help"])
    assert result.exit_code == 0, f"{where}: driftline {' '.join(argv)}\n{result.output}"


def _data_now(root: Path) -> None:
    """Spans of v1.0 then v2.0 within the last hours, so '7d..1d' and '1h' windows are not empty."""
    import time

    from tests.benchmarks import bench_diff

    rng = np.random.default_rng(2)
    old = bench_diff.T0
    try:
        bench_diff.T0 = (int(time.time()) - 3 * 86400) * 10**9
        bench_diff._version(root, 0, "v1.0", 100, rng, False)  # 48 h from three days ago
    finally:
        bench_diff.T0 = old


def test_systemd_and_cronjob_report_lines_run_locally(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _data_now(root)
    configmap = next(d for _, d in _yaml_docs() if isinstance(d, dict) and d.get("kind") == "ConfigMap")
    toml_text = configmap["data"]["driftline.toml"].replace("/data", str(root))
    conf = tmp_path / "driftline.toml"
    conf.write_text(toml_text)
    unit = _unit(DEPLOY / "systemd" / "driftline-report@.service")["Service"]["ExecStart"]
    cron = next(d for _, d in _yaml_docs() if isinstance(d, dict) and d.get("kind") == "CronJob")
    cron_args = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    for argv in (shlex.split(unit)[1:], cron_args):
        argv = [
            str(conf)
            if a == "/etc/driftline/driftline.toml"
            else str(root)
            if a in ("/data", "/var/lib/driftline")
            else a.replace("%i", "hourly-drift")
            for a in argv
        ]
        result = CliRunner().invoke(cli, argv)
        assert result.exit_code == 0, result.output
        assert "hourly-drift:" in result.output
    history = CliRunner().invoke(cli, ["history", "--data", str(root), "--format", "json"])
    assert len(json.loads(history.output)) >= 1
