"""The REST API over a real server on loopback (uvicorn on a free port) and a data root made by the
real pipeline's writer: filters, cursor pagination, a run's span tree, versions, the diff document
(valid against the report schema), cost, history, baselines, auth, 404 and 422."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

from driftline.analysis.api.app import Settings, create_app
from driftline.analysis.cli import cli
from driftline.analysis.commands.console import ConsoleServer
from driftline.analysis.report.json_render import schema
from tests.benchmarks.bench_diff import _version
from tests.unit.test_runs_view import _write


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("api") / "data"
    rng = np.random.default_rng(9)
    _version(root, 0, "v1.0", 150, rng, False)
    _version(root, 1, "v2.0", 150, rng, True)
    _write(root)  # hand-built traces: an agent run with a sub-agent, an agentless trace
    return str(root)


def _serve(app: object) -> Iterator[str]:
    """The app on a free loopback port, as `driftline serve --ui-port` runs it."""
    server = ConsoleServer(app, "127.0.0.1", 0).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def api(data: str) -> Iterator[str]:
    yield from _serve(create_app(Settings(data)))


@pytest.fixture(scope="module")
def secured(data: str) -> Iterator[str]:
    yield from _serve(create_app(Settings(data, auth_token="s3cret")))


def test_runs_filters_and_cursor_pagination(api: str) -> None:
    seen, cursor = [], None
    for _ in range(10):
        params = {"version": "v2.0", "limit": 40, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(f"{api}/api/v1/runs", params=params, timeout=30).json()
        seen += page["runs"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 150 == len({r["run_id"] for r in seen})
    starts = [r["start_time"] for r in seen]
    assert starts == sorted(starts, reverse=True) and all(r["version"] == "v2.0" for r in seen)
    by_cost = httpx.get(f"{api}/api/v1/runs", params={"sort": "cost", "order": "asc", "limit": 5}).json()["runs"]
    assert [r["cost"] for r in by_cost] == sorted(r["cost"] for r in by_cost)
    escalated = httpx.get(f"{api}/api/v1/runs", params={"tool": "escalate_to_human", "limit": 500}).json()["runs"]
    assert escalated and all("escalate_to_human" in r["tool_sequence"] for r in escalated)
    assert httpx.get(f"{api}/api/v1/runs", params={"q": "orchestr"}).json()["runs"][0]["agent"] == "orchestrator"


def test_run_detail_versions_diff_cost_history(api: str) -> None:
    run_id = "a" * 32 + ":a000000000000001"
    detail = httpx.get(f"{api}/api/v1/runs/{run_id}").json()
    assert detail["run"]["agent"] == "orchestrator" and len(detail["spans"]) == 7
    assert {s["name"] for s in detail["spans"]} >= {"execute_tool search", "invoke_agent helper"}
    missing = httpx.get(f"{api}/api/v1/runs/nope")
    assert missing.status_code == 404 and missing.json() == {"error": "no run 'nope'"}
    versions = [v["version"] for v in httpx.get(f"{api}/api/v1/versions").json()["versions"]]
    assert versions == ["v7", "v1.0", "v2.0"]  # by first appearance (the hand-built traces are from 2023)
    doc = httpx.get(f"{api}/api/v1/diff", params={"baseline": "v1.0", "candidate": "v2.0"}, timeout=60).json()
    jsonschema.validate(doc, schema())
    assert doc["verdict"]["verdict"] == "block"
    unknown = httpx.get(f"{api}/api/v1/diff", params={"baseline": "v1.0", "candidate": "v9"}, timeout=60)
    assert unknown.status_code == 404 and "v9" in unknown.json()["error"]
    cost = httpx.get(f"{api}/api/v1/cost", params={"by": "version"}).json()
    assert {r["version"] for r in cost["rows"]} >= {"v1.0", "v2.0"} and cost["total"] > 0
    assert httpx.get(f"{api}/api/v1/history").json() == {"history": []}
    assert httpx.get(f"{api}/api/v1/health").json()["status"] == "ok"
    stats = httpx.get(f"{api}/api/v1/stats", params={"hours": 24 * 90})
    assert stats.status_code == 200 and set(stats.json()) >= {"spans_per_hour", "runs_per_hour"}
    assert "paths" in httpx.get(f"{api}/openapi.json").json() and httpx.get(f"{api}/docs").status_code == 200


def test_bad_parameters_are_422_with_the_field_named(api: str) -> None:
    r = httpx.get(f"{api}/api/v1/runs", params={"limit": 100000})
    assert r.status_code == 422 and "limit" in r.text
    r = httpx.get(f"{api}/api/v1/runs", params={"cursor": "garbage"})
    assert r.status_code == 422 and "cursor" in r.text
    r = httpx.get(f"{api}/api/v1/runs", params={"started_after": "yesterday"})
    assert r.status_code == 422 and "started_after" in r.text
    assert httpx.post(f"{api}/api/v1/baselines", json={"version": "v1.0"}).status_code == 403  # no token: no writes


def test_bearer_token_guards_reads_and_allows_writes(secured: str) -> None:
    assert httpx.get(f"{secured}/api/v1/versions").status_code == 401
    headers = {"Authorization": "Bearer s3cret"}
    assert httpx.get(f"{secured}/api/v1/versions", headers=headers).status_code == 200
    assert httpx.post(f"{secured}/api/v1/baselines", json={"version": "v1.0"}).status_code == 401
    created = httpx.post(f"{secured}/api/v1/baselines", json={"version": "v1.0", "note": "ok"}, headers=headers)
    assert created.status_code == 201 and created.json()["runs"] == 150
    listed = httpx.get(f"{secured}/api/v1/baselines", headers=headers).json()["baselines"]
    assert listed[-1]["version"] == "v1.0"
    bad = httpx.post(f"{secured}/api/v1/baselines", json={"version": ""}, headers=headers)
    assert bad.status_code == 422 and "version" in bad.text


def test_slow_runs_version_metrics_and_cost_series_agree_with_sql(api: str, data: str) -> None:
    from driftline.analysis.db import connect

    con = connect(data, cached_runs=True, only_runs=True)
    p95 = dict(con.execute("SELECT version, quantile_cont(duration_ms, 0.95) FROM runs GROUP BY 1").fetchall())
    slow = httpx.get(f"{api}/api/v1/runs", params={"slow": "true", "limit": 500}).json()
    assert slow["runs"] and all(r["slow"] and r["duration_ms"] > p95[r["version"]] for r in slow["runs"])
    expected = sum(
        1 for v, d in con.execute("SELECT version, duration_ms FROM runs").fetchall() if v in p95 and d > p95[v]
    )
    assert len(slow["runs"]) == expected and "95th percentile" in slow["slow_definition"]
    page = httpx.get(f"{api}/api/v1/runs", params={"version": "v1.0", "limit": 500}).json()["runs"]
    assert {r["run_id"] for r in page if r["slow"]} == {r["run_id"] for r in slow["runs"] if r["version"] == "v1.0"}

    # the CLI's --slow marks the same runs under a narrowing filter: the bar is the version's p95, not the filter's
    for outcome in ("resolved", "escalated"):
        listed = CliRunner().invoke(
            cli, ["runs", "--data", data, "--slow", "--outcome", outcome, "--limit", "500", "--format", "json"]
        )
        assert listed.exit_code == 0, listed.output
        via_api = httpx.get(f"{api}/api/v1/runs", params={"slow": "true", "outcome": outcome, "limit": 500}).json()
        assert via_api["runs"], outcome
        assert {r["run_id"] for r in json.loads(listed.output)} == {r["run_id"] for r in via_api["runs"]}

    versions = {v["version"]: v for v in httpx.get(f"{api}/api/v1/versions").json()["versions"]}
    error_rate, mean_cost = con.execute(
        "SELECT avg(CAST(status = 'ERROR' AS DOUBLE)), avg(cost) FROM runs WHERE version = 'v2.0'"
    ).fetchall()[0]
    v2 = versions["v2.0"]
    assert v2["error_rate"] == pytest.approx(error_rate) and v2["mean_cost"] == pytest.approx(mean_cost)
    assert v2["p95_ms"] == pytest.approx(p95["v2.0"]) and v2["p50_ms"] < v2["p95_ms"]

    series = httpx.get(f"{api}/api/v1/cost/series", params={"by": "version", "bucket": "day", "since": "3650d"}).json()
    total = httpx.get(f"{api}/api/v1/cost", params={"since": "3650d"}).json()["total"]
    assert sum(p["cost"] or 0 for p in series["points"]) == pytest.approx(total, rel=1e-4)
    assert {p["key"] for p in series["points"]} >= {"v1.0", "v2.0"}
    bad = httpx.get(f"{api}/api/v1/cost/series", params={"since": "last tuesday"})
    assert bad.status_code == 422 and "since" in bad.text


def test_console_is_served_with_deep_links_and_the_api_keeps_json_404s(api: str, tmp_path: Any) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from driftline.analysis.api.console import built, mount_console

    if built():
        page = httpx.get(f"{api}/runs/some-run?span=1")  # a shared deep link gets the app, not a 404
        assert page.status_code == 200 and '<div id="root">' in page.text
        assert page.headers["cache-control"] == "no-cache"
    missing = httpx.get(f"{api}/api/v1/no-such-endpoint")
    assert missing.status_code == 404 and "error" in missing.json()
    # an installation without the built console still answers, and says how to build it
    bare = FastAPI()
    mount_console(bare, static=tmp_path)
    text = TestClient(bare).get("/").text
    assert "make console" in text and "/docs" in text


def test_ingest_summarises_receiver_metrics(api: str) -> None:
    from driftline.analysis.api.ingest import ReceiverSource, read, summarise
    from driftline.collector.telemetry import Telemetry

    t = Telemetry(queue_depth=lambda: 2, wal_bytes=lambda: 4096)
    t.accepted.labels("traces").inc(90)
    t.written.labels("spans").inc(80)
    t.rejected.labels("traces", "invalid_item").inc(3)
    t.requests.labels("grpc", "traces", "ok").inc(9)
    for seconds in [0.002] * 90 + [0.2] * 10:
        t.export_latency.labels("grpc").observe(seconds)
    m = summarise(t.render().decode())
    assert m["accepted"] == {"traces": 90} and m["written"] == {"spans": 80}
    assert m["rejected"] == [{"signal": "traces", "reason": "invalid_item", "count": 3}]
    assert m["queue_depth"] == 2 and m["wal_bytes"] == 4096
    assert 0.001 < m["export_p50_s"] <= 0.0025 and 0.1 < m["export_p99_s"] <= 0.25
    down = read(ReceiverSource(url="http://127.0.0.1:9"))  # nothing listens on the discard port
    assert down["configured"] and not down["reachable"] and "cannot read" in down["error"]
    assert httpx.get(f"{api}/api/v1/ingest").json()["configured"] is False


def test_console_commands_refuse_bad_input_clearly(tmp_path: Any) -> None:
    bad = CliRunner().invoke(cli, ["ui", "--data", str(tmp_path), "--receiver", "receiver-0:4318"])
    assert bad.exit_code == 2 and "HTTP base URL" in bad.output
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        args = ["serve", "--data", str(tmp_path / "d"), "--grpc-port", "0", "--http-port", "0", "--ui-port", str(port)]
        result = CliRunner().invoke(cli, args)
    finally:
        busy.close()
    assert result.exit_code == 1 and f"cannot listen on 127.0.0.1:{port} for the console" in result.output


def test_no_endpoint_derives_runs_on_the_request_thread(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "A request never waits for a rebuild": with new spans arriving, health, stats, cost, the cost
    series, versions and diff (also --by an attribute) answer without deriving runs or scanning every
    span on the thread that serves them — the snapshot's background refresh does that."""
    import threading

    from driftline.analysis import run_cache

    root = tmp_path_factory.mktemp("api-refresh") / "data"
    rng = np.random.default_rng(4)
    _version(root, 0, "v1.0", 120, rng, False)
    _version(root, 1, "v2.0", 120, rng, True)
    on_request_threads: list[str] = []
    real_refresh = run_cache.RunCache.refresh
    serving: list[str] = []  # the path being requested, once the first snapshot is there

    def watched(self: run_cache.RunCache) -> list:
        name = threading.current_thread().name
        if serving and not name.startswith("driftline-runs-snapshot"):
            on_request_threads.append(f"{serving[-1]} on {name}")
        return real_refresh(self)

    monkeypatch.setattr(run_cache.RunCache, "refresh", watched)
    server = ConsoleServer(create_app(Settings(str(root))), "127.0.0.1", 0).start()
    try:
        with httpx.Client(base_url=server.url + "/api/v1", timeout=60) as client:
            before = client.get("/health").json()
            assert before["runs"] == 240
            _version(root, 2, "v3.0", 60, rng, False)  # new data: the next requests must not derive it
            for path, params in (
                ("/health", {}),
                ("/stats", {"hours": 2160}),
                ("/cost", {"by": "version"}),
                ("/cost/series", {"by": "version", "bucket": "day", "since": "3650d"}),
                ("/versions", {}),
                ("/diff", {"baseline": "v1.0", "candidate": "v2.0", "by": "tenant.id"}),
            ):
                serving.append(path)
                response = client.get(path, params=params)
                if params.get("by") == "tenant.id":  # read from the spans; no run carries it: refused, naming the key
                    assert response.status_code == 422 and "no run of either side carries" in response.text
                    continue
                assert response.status_code == 200, (path, response.text)
            deadline = time.monotonic() + 30  # the background refresh brings v3.0 in
            while client.get("/health").json()["runs"] != 300:
                assert time.monotonic() < deadline
                time.sleep(0.2)
            assert client.get("/health").json()["spans"] == before["spans"] + 60 * 10  # v3.0: 10 spans a run
            versions = {v["version"] for v in client.get("/versions").json()["versions"]}
            assert versions == {"v1.0", "v2.0", "v3.0"}
    finally:
        server.stop()
    assert on_request_threads == []
