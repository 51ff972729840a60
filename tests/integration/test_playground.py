"""The playground and named baselines, end to end: a prompt sent as a chosen agent version through a
loopback OpenAI-compatible server lands in a real receiver as a run (environment ``playground``, its
question and answer stored), picked runs are promoted to a named baseline, and ``diff @name`` compares
exactly those runs — from the CLI and from the REST API the console uses. A failing endpoint still
leaves a run (an error); a receiver that does not acknowledge is an error, never a run id that
points nowhere."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from driftline.analysis.api.app import Settings, create_app
from driftline.analysis.api.ingest import ReceiverSource
from driftline.analysis.cli import cli
from driftline.analysis.commands.console import ConsoleServer
from driftline.analysis.demo.answers import answers
from tests.integration.test_semantic_diff import export_runs


def _config(tmp_path: Path, llm_url: str, model: str = "gpt-4o-mini") -> Path:
    path = tmp_path / "driftline.toml"
    path.write_text(
        f'[playground]\nendpoint = "{llm_url}"\nmodel = "{model}"\nsystem = "Answer briefly."\ntimeout = 5\n'
    )
    return path


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def landed(receiver_factory, llm_server, tmp_path: Path) -> tuple[Any, Any, Path]:
    app = receiver_factory(store_content=True)
    export_runs(app.grpc_port, "v2", answers(30, seed=2, mix={"shipping": 1.0}))
    return app, llm_server, _config(tmp_path, llm_server.base_url)


def test_a_playground_prompt_lands_as_a_run_and_promoted_runs_are_a_named_baseline(landed) -> None:
    app, llm, config = landed
    otlp = f"http://127.0.0.1:{app.grpc_port}"
    ids = []
    for question in ("Where is order 42?", "Can I get a refund?", "Do you ship abroad?"):
        out = run("--config", str(config), "playground", question, "--version", "v1", "--agent", "support",
                  "--otlp-endpoint", otlp, "--format", "json")  # fmt: skip
        assert out.exit_code == 0, out.output
        sent = json.loads(out.output)
        assert sent["output"] == "Order 42 ships Monday." and sent["error"] is None
        assert sent["version"] == "v1" and sent["environment"] == "playground" and sent["input_tokens"] == 57
        ids.append(sent["run_id"])
    path, body = llm.requests[-1]
    assert path.endswith("/chat/completions")
    assert body["messages"] == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Do you ship abroad?"},
    ]
    assert app.flush(20)
    root = str(app.config.data)
    rows = json.loads(
        run("sql", "--data", root, "--format", "json",
            "SELECT run_id, agent, environment, status, input_text, output_text FROM runs WHERE version = 'v1'").output
    )  # fmt: skip
    assert {r["run_id"] for r in rows} == set(ids)
    assert {(r["agent"], r["environment"], r["status"]) for r in rows} == {("support", "playground", "OK")}
    assert all("Order 42 ships Monday." in r["output_text"] for r in rows)  # stored as the GenAI messages
    assert sum("Can I get a refund?" in r["input_text"] for r in rows) == 1

    first = run("baseline", "promote", "golden", ids[0], ids[1], "--data", root, "--note", "reviewed")
    assert first.exit_code == 0 and "baseline @golden" in first.output and "2 runs of v1" in first.output
    more = run("baseline", "promote", "golden", ids[2], "--data", root)
    assert more.exit_code == 0 and "3 runs" in more.output and "replaces" in more.output
    unknown = run("baseline", "promote", "golden", "feedface:00", "--data", root)
    assert unknown.exit_code == 1 and "no run feedface:00 in the data" in unknown.output
    bad = run("baseline", "promote", "no good", ids[0], "--data", root)
    assert bad.exit_code == 1 and "baseline name 'no good'" in bad.output

    out = run("diff", "@golden", "v2", "--data", root, "--format", "json")
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert report["baseline"]["label"] == "@golden" and report["baseline"]["runs"] == 3
    assert report["baseline"]["versions"] == ["v1"] and report["candidate"]["runs"] == 30
    assert report["baseline"]["selector"]["runs_listed"] == 3
    assert report["baseline_record"]["name"] == "golden" and "run_ids" not in report["baseline_record"]
    markdown = run("diff", "@golden", "v2", "--data", root, "--format", "markdown").output
    assert "_Baseline @golden (3 promoted runs) recorded by" in markdown

    # @name is a side wherever a side is: reports, watch, and a [[report]] with sequential monitoring
    html = Path(root).parent / "golden.md"
    assert run("report", "@golden", "v2", "--data", root, "--output", str(html)).exit_code == 0
    assert "# " in html.read_text() and "@golden" in html.read_text()
    watched = run("watch", "--data", root, "--against", "@golden", "--candidate", "v2", "--iterations", "1")
    assert watched.exit_code == 0 and "@golden (3 runs) vs v2" in watched.output, watched.output
    conf = Path(root).parent / "scheduled.toml"
    conf.write_text(
        f'[[report]]\nname = "vs-golden"\ncron = "0 * * * *"\nbaseline = "@golden"\ncandidate = "v2"\n'
        f'sequential = true\nformats = ["markdown"]\noutput_dir = "{Path(root).parent / "reports"}"\n'
    )
    scheduled = run("--config", str(conf), "schedule", "--once", "vs-golden", "--data", root)
    assert scheduled.exit_code == 0, scheduled.output
    assert "@golden" in (Path(root).parent / "reports" / "vs-golden" / "latest.md").read_text()

    nope = run("diff", "@nope", "v2", "--data", root)
    assert nope.exit_code != 0 and "no named baseline 'nope'; named baselines: @golden" in nope.output
    shown = run("baseline", "show", "--name", "golden", "--data", root)
    assert "@golden  3 runs  v1" in shown.output and "note" not in shown.output.splitlines()[-1]
    assert run("baseline", "show", "--name", "golden", "--history", "--data", root).output.count("@golden") == 2
    # a named baseline is not the scope's baseline: a one-sided diff still asks for one
    assert "no baseline recorded" in run("diff", "v2", "--data", root).output
    assert "cleared" in run("baseline", "clear", "--name", "golden", "--data", root).output
    gone = run("diff", "@golden", "v2", "--data", root)
    assert gone.exit_code != 0 and "no named baseline 'golden'" in gone.output


def test_a_failed_call_is_a_run_too_and_a_receiver_that_does_not_acknowledge_is_an_error(
    receiver_factory, llm_server, tmp_path: Path, monkeypatch
) -> None:
    app = receiver_factory(store_content=True)
    config = _config(tmp_path, llm_server.base_url, model="error-500")
    otlp = f"http://127.0.0.1:{app.grpc_port}"
    out = run("--config", str(config), "playground", "Hello?", "--version", "v1", "--otlp-endpoint", otlp)
    assert out.exit_code == 1 and "answered HTTP 500" in out.output
    assert app.flush(20)
    rows = json.loads(
        run("sql", "--data", str(app.config.data), "--format", "json", "SELECT status, outcome FROM runs").output
    )
    assert rows == [{"status": "ERROR", "outcome": "error"}]

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    config = _config(tmp_path, llm_server.base_url)
    dead = f"http://127.0.0.1:{_free_port()}"
    out = run("--config", str(config), "playground", "Hello?", "--version", "v1", "--otlp-endpoint", dead)
    assert out.exit_code == 1 and "did not acknowledge the run" in out.output and "not recorded" in out.output
    nowhere = run("--config", str(config), "playground", "Hello?", "--version", "v1")
    assert nowhere.exit_code == 1 and "nowhere to send the run" in nowhere.output
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    unset = run("--config", str(empty), "playground", "Hello?", "--version", "v1", "--otlp-endpoint", otlp)
    assert unset.exit_code == 1 and "no endpoint configured" in unset.output
    typo = tmp_path / "typo.toml"
    typo.write_text('[playground]\nendpont = "http://x"\n')
    wrong = run("--config", str(typo), "playground", "Hello?", "--version", "v1")
    assert wrong.exit_code == 1 and "[playground]: unknown key(s) endpont" in wrong.output


@pytest.fixture
def console(landed) -> Iterator[tuple[str, Any]]:
    app, llm, _ = landed
    source = ReceiverSource(otlp_grpc=f"http://127.0.0.1:{app.grpc_port}")
    doc = {"playground": {"endpoint": llm.base_url, "model": "gpt-4o-mini"}}
    settings = Settings(str(app.config.data), auth_token="t0k", receiver=source, doc=doc)
    server = ConsoleServer(create_app(settings), "127.0.0.1", 0).start()
    yield server.url, app
    server.stop()


def test_the_api_sends_promotes_once_landed_and_diffs_against_the_named_baseline(console) -> None:
    url, app = console
    auth = {"Authorization": "Bearer t0k"}
    state = httpx.get(f"{url}/api/v1/playground", headers=auth).json()
    assert state["configured"] and state["otlp"]["protocol"] == "grpc" and state["model"] == "gpt-4o-mini"
    body = {"prompt": "Where is order 42?", "version": "v1", "agent": "support"}
    assert httpx.post(f"{url}/api/v1/playground", json=body).status_code == 401
    assert httpx.post(f"{url}/api/v1/playground", json={**body, "prompt": ""}, headers=auth).status_code == 422
    sent = [httpx.post(f"{url}/api/v1/playground", json=body, headers=auth, timeout=30) for _ in range(2)]
    assert [r.status_code for r in sent] == [201, 201]
    ids = [r.json()["run_id"] for r in sent]
    failed = httpx.post(f"{url}/api/v1/playground", json={**body, "model": "error-500"}, headers=auth, timeout=30)
    assert failed.status_code == 502 and "answered HTTP 500" in failed.json()["error"]
    assert "recorded as run" in failed.json()["error"]

    promote = {"name": "golden", "run_ids": ids, "note": "from the playground"}
    assert httpx.post(f"{url}/api/v1/baselines/named", json={**promote, "name": "a b"}, headers=auth).status_code == 422
    assert app.flush(20)
    deadline = time.monotonic() + 30
    while True:  # the API's snapshot picks the runs up within seconds of the flush
        answer = httpx.post(f"{url}/api/v1/baselines/named", json=promote, headers=auth, timeout=30)
        if answer.status_code == 201 or time.monotonic() > deadline:
            break
        assert answer.status_code == 404 and "no run" in answer.json()["error"]
        time.sleep(0.3)
    assert answer.status_code == 201, answer.text
    assert answer.json()["runs"] == 2 and "run_ids" not in answer.json()
    listed = httpx.get(f"{url}/api/v1/baselines", headers=auth).json()
    assert [n["name"] for n in listed["named"]] == ["golden"]
    report = httpx.get(
        f"{url}/api/v1/diff", params={"baseline": "@golden", "candidate": "v2"}, headers=auth, timeout=60
    ).json()
    assert report["baseline"]["label"] == "@golden" and report["baseline"]["runs"] == 2
    missing = httpx.get(f"{url}/api/v1/diff", params={"baseline": "@nope", "candidate": "v2"}, headers=auth)
    assert missing.status_code == 404 and "no named baseline" in missing.json()["error"]


def test_without_a_receiver_or_endpoint_the_playground_says_what_is_missing(tmp_path: Path) -> None:
    server = ConsoleServer(create_app(Settings(str(tmp_path / "data"), auth_token="t")), "127.0.0.1", 0).start()
    try:
        auth = {"Authorization": "Bearer t"}
        state = httpx.get(f"{server.url}/api/v1/playground", headers=auth).json()
        assert not state["configured"] and "no endpoint configured" in state["reason"]
        sent = httpx.post(f"{server.url}/api/v1/playground", json={"prompt": "hi", "version": "v1"}, headers=auth)
        assert sent.status_code == 409 and "no endpoint configured" in sent.json()["error"]
    finally:
        server.stop()
