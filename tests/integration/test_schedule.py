"""Scheduled reports: cron slots, catch-up once, never twice, no overlap, alerts to real HTTP
endpoints on loopback (and a command hook), drift history, and the CLI around them."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from driftline.analysis.cli import cli
from driftline.analysis.schedule import history
from driftline.analysis.schedule.entries import parse
from driftline.analysis.schedule.scheduler import Scheduler, report_lock
from tests.benchmarks.bench_diff import _version


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sched") / "data"
    rng = np.random.default_rng(5)
    _version(path, 0, "v1.0", 240, rng, False)
    _version(path, 1, "v2.0", 240, rng, True)
    return str(path)


@pytest.fixture
def receiver_http():
    received: list[tuple[str, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()


def _doc(url: str, tmp_path: Path, **report: object) -> dict:
    return {
        "report": [
            {
                "name": "hourly",
                "cron": "0 * * * *",
                "baseline": "v1.0",
                "candidate": "v2.0",
                "output_dir": str(tmp_path / "out"),
                "alerts": ["hook", "slack", "cmd", "down"],
                **report,
            }
        ],
        "alerts": {
            "hook": {"type": "webhook", "url": f"{url}/hook"},
            "slack": {"type": "slack", "url": f"{url}/slack"},
            "cmd": {"type": "command", "command": f"tee {tmp_path / 'cmd.json'}"},
            "down": {"type": "webhook", "url": "http://127.0.0.1:9/x", "retries": 2, "backoff": 0.01, "timeout": 1},
        },
    }


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, 3, hour, minute, tzinfo=UTC)


def test_slots_alerts_history_catch_up_and_locks(root: str, receiver_http, tmp_path: Path) -> None:
    url, received = receiver_http
    doc = _doc(url, tmp_path)
    sched = Scheduler(root, parse(doc), doc)
    (row,) = sched.run_pending(at(10, 30), at(11, 5))
    assert row.slot == "2026-06-03T11:00:00Z" and row.verdict == "block" and row.alerted
    paths = sorted(p for p, _ in received)
    assert paths == ["/hook", "/slack"]  # the unreachable sink failed twice, logged, nothing raised
    hook = dict(received)["/hook"]
    assert hook["verdict"] == "block" and hook["previous_verdict"] is None and hook["hypotheses"]
    assert hook["reason"] == "verdict changed from nothing to block" and hook["report_path"].endswith(".html")
    slack = dict(received)["/slack"]
    assert "BLOCK" in slack["text"] and slack["blocks"][0]["type"] == "section"
    assert json.loads((tmp_path / "cmd.json").read_text())["report"] == "hourly"
    out = tmp_path / "out" / "hourly"
    assert {p.name for p in out.iterdir()} >= {"20260603T110000Z.html", "latest.html", "latest.md", "latest.json"}
    assert "Trend" in (out / "latest.html").read_text()
    assert sched.run_pending(at(10, 30), at(11, 5)) == []  # the same slot never runs twice
    (row,) = sched.run_pending(at(11, 5), at(12, 1))
    assert row.verdict == "block" and not row.alerted and len(received) == 2  # same verdict: quiet
    rows = sched.catch_up(at(15, 10))  # down from 12:01 to 15:10: only the latest missed slot runs
    assert [r.slot for r in rows] == ["2026-06-03T15:00:00Z"]
    rows = history.read(root, "hourly")
    assert [r["slot"][11:13] for r in rows] == ["11", "12", "15"]
    # a step change, not a spike: three non-stable runs in a row, since v2.0 first appeared
    assert [r["persistence"] for r in rows] == ["spike", "developing", "sustained"]
    assert rows[-1]["deploy"].startswith("v2.0 first seen ") and hook["persistence"] == "spike"
    assert "sustained: not stable in each of the last 3 runs" in (out / "latest.html").read_text()
    assert "**Persistence:** sustained" in (out / "latest.md").read_text()
    with report_lock(sched.locks, "hourly"):  # a run in progress elsewhere: this one is skipped
        assert sched.run("hourly", at(16)) is None
    assert Scheduler(root, parse(doc), doc).catch_up(at(15, 30)) == []


def test_max_score_crossing_alerts_once(root: str, receiver_http, tmp_path: Path) -> None:
    url, received = receiver_http
    doc = _doc(url, tmp_path, name="scored", max_score=0.1, alert_on=[], alerts=["hook"])
    sched = Scheduler(root, parse(doc), doc)
    sched.run_pending(at(9, 59), at(10, 0))
    sched.run_pending(at(10, 59), at(11, 0))
    hooks = [b for p, b in received if p == "/hook"]
    assert len(hooks) == 1 and "crossed max_score 0.1" in hooks[0]["reason"]


def test_cli_once_list_history_and_bad_config(root: str, tmp_path: Path) -> None:
    conf = tmp_path / "driftline.toml"
    conf.write_text(
        f'data = "{root}"\n[[report]]\nname = "nightly"\ncron = "0 3 * * *"\nbaseline = "v1.0"\n'
        f'candidate = "latest"\nformats = ["markdown"]\noutput_dir = "{tmp_path / "o"}"\n'
    )
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(conf), "schedule", "--list"])
    assert result.exit_code == 0 and "nightly" in result.output and "next 20" in result.output
    result = runner.invoke(cli, ["--config", str(conf), "schedule", "--once", "nightly"])
    assert result.exit_code == 0, result.output
    assert "nightly: block" in result.output and (tmp_path / "o" / "nightly" / "latest.md").exists()
    result = runner.invoke(cli, ["--config", str(conf), "history", "--report", "nightly"])
    assert result.exit_code == 0 and "nightly" in result.output and "block" in result.output
    result = runner.invoke(cli, ["--config", str(conf), "schedule", "--once", "nope"])
    assert result.exit_code == 2 and "no report named" in result.output
    conf.write_text('[[report]]\nname = "x"\ncron = "every hour"\n')
    result = runner.invoke(cli, ["--config", str(conf), "schedule", "--list"])
    assert result.exit_code == 1 and "not a valid cron expression" in result.output


def test_sequential_monitoring_alerts_once_and_carries_p_values(root: str, receiver_http, tmp_path: Path) -> None:
    url, received = receiver_http
    doc = _doc(url, tmp_path, name="seq", sequential=True, alert_on=[], alerts=["hook"])
    sched = Scheduler(root, parse(doc), doc)
    (first,) = sched.run_pending(at(7, 59), at(8, 0))
    (second,) = sched.run_pending(at(8, 59), at(9, 0))
    s1, s2 = json.loads(first.sequential), json.loads(second.sequential)
    assert s1["method"] == "msprt" and s1["key"] == "msprt|v1.0|v2.0" and s2["key"] == s1["key"]
    p1, p2 = s1["p"], s2["p"]
    assert p1["calls search_knowledge_base"] < 0.005 and all(p2[k] <= p1[k] for k in p1)
    assert "calls search_knowledge_base" in s1["alarm"] and s2["alarm"] == []
    hooks = [b for p, b in received if p == "/hook"]
    assert len(hooks) == 1 and "sequential test" in hooks[0]["reason"]  # newly crossed only once


def test_watch_refreshes_and_stops(root: str) -> None:
    result = CliRunner().invoke(
        cli,
        ["watch", "--data", root, "--against", "v1.0", "--candidate", "v2.0", "--interval", "0.2", "--iterations", "2"],
    )
    assert result.exit_code == 0, result.output
    assert "BLOCK" in result.output and "Tools called" in result.output
    # not a terminal (a pipe, a CI log): one plain line per refresh, not a live view that prints nothing
    refreshes = [line for line in result.output.splitlines() if "v1.0" in line and "BLOCK" in line]
    assert len(refreshes) == 2 and all(re.match(r"\d\d:\d\d:\d\d  ", line) for line in refreshes), result.output
    result = CliRunner().invoke(cli, ["watch", "--data", root, "--against", "v9", "--iterations", "1"])
    assert result.exit_code == 0 and "no runs of version 'v9'" in result.output


def test_serve_sleeps_to_the_next_slot_runs_it_and_stops(root: str, tmp_path: Path) -> None:
    import time

    doc = {
        "report": [
            {
                "name": "minutely",
                "cron": "* * * * *",
                "baseline": "v1.0",
                "candidate": "v2.0",
                "formats": ["json"],
                "output_dir": str(tmp_path / "out"),
            }
        ]
    }
    sched = Scheduler(root, parse(doc), doc)
    start_real = time.monotonic()
    fake_start = datetime(2026, 6, 3, 10, 59, 59, 600_000, tzinfo=UTC)  # 0.4 s before a slot

    def clock() -> datetime:
        from datetime import timedelta

        return fake_start + timedelta(seconds=time.monotonic() - start_real)

    original = sched.run_pending

    def once_then_stop(previous: datetime, now: datetime) -> list:
        rows = original(previous, now)
        sched.stop.set()
        return rows

    sched.run_pending = once_then_stop  # type: ignore[method-assign]
    thread = threading.Thread(target=sched.serve, kwargs={"clock": clock}, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert [r["slot"] for r in history.read(root, "minutely")] == ["2026-06-03T11:00:00Z"]


def test_a_slot_finished_by_another_process_between_check_and_lock_is_not_run_again(
    root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slot check happens under the report's lock: another scheduler (a ``--once`` from cron)
    that completes the slot just before this one looks cannot make it run a second time."""
    import driftline.analysis.schedule.scheduler as scheduler_module

    doc = _doc("http://127.0.0.1:9", tmp_path, name="raced", alerts=[])
    calls: list[str] = []
    real_run_entry = scheduler_module.run_entry

    def counting_run_entry(*args: object, **kw: object) -> object:
        calls.append("run")
        return real_run_entry(*args, **kw)

    monkeypatch.setattr(scheduler_module, "run_entry", counting_run_entry)
    first, other = Scheduler(root, parse(doc), doc), Scheduler(root, parse(doc), doc)
    real_done = first.done_slots
    raced = []

    def done_slots_while_the_other_finishes(name: str) -> set[str]:
        done = real_done(name)
        if not raced:  # the other process runs the whole slot right after this one looked
            raced.append(other.run(name, at(20)))
        return done

    first.done_slots = done_slots_while_the_other_finishes  # type: ignore[method-assign]
    first.run("raced", at(20))
    assert len(calls) == 1
    assert [r["slot"] for r in history.read(root, "raced")] == ["2026-06-03T20:00:00Z"]


def test_a_new_candidate_version_does_not_inherit_the_old_ones_p_values(root: str, tmp_path: Path) -> None:
    """The always-valid p-value belongs to one (baseline, candidate) pair: when ``latest`` becomes a
    new version, monitoring starts afresh instead of carrying the previous version's minima."""
    doc = _doc("http://127.0.0.1:9", tmp_path, name="fresh", candidate="latest", sequential=True, alerts=[])
    earlier = {"method": "msprt", "key": "msprt|v1.0|v1.9", "p": {"error rate": 1e-12, "log mean cost": 1e-12}}
    history.append(
        root,
        history.HistoryRow(
            "fresh",
            "2026-06-03T05:00:00Z",
            "2026-06-03T05:00:01Z",
            "stable",
            0.0,
            0.0,
            0.0,
            "v1.0",
            "v1.9",
            100,
            100,
            "[]",
            "x",
            False,
            sequential=json.dumps(earlier),
        ),
    )
    (row,) = Scheduler(root, parse(doc), doc).run_pending(at(5, 59), at(6, 0))
    state = json.loads(row.sequential)
    assert state["key"] == "msprt|v1.0|v2.0" and state["p"]["error rate"] > 1e-6
