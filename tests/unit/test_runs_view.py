"""The `runs` view: agent subtrees (outermost agent wins), agentless traces, retries and rounds."""

from __future__ import annotations

import json
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from driftline.analysis.db import connect
from tests.integration.otlp_payloads import kv
from tests.span_rows import add_span as _span
from tests.span_rows import store


def _write(root: Path) -> None:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend([kv("service.name", "svc"), kv("service.version", "v7")])
    ss = rs.scope_spans.add()
    a = "a" * 32
    chat = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 10,
    }
    _span(
        ss,
        a,
        "a000000000000001",
        None,
        "invoke_agent orchestrator",
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "orchestrator",
            "driftline.outcome": "escalated",
        },
        0,
        1000,
    )
    _span(
        ss,
        a,
        "a000000000000002",
        "a000000000000001",
        "chat",
        {**chat, "gen_ai.response.finish_reasons": ["tool_calls"]},
        10,
        50,
    )
    _span(
        ss,
        a,
        "a000000000000003",
        "a000000000000001",
        "execute_tool search",
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "search",
            "error.type": "TimeoutError",
            "driftline.tool.arguments.hash": "h1",
        },
        100,
        20,
        error=True,
    )
    _span(
        ss,
        a,
        "a000000000000004",
        "a000000000000001",
        "execute_tool search",
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search", "driftline.tool.arguments.hash": "h1"},
        130,
        20,
    )
    _span(
        ss,
        a,
        "a000000000000005",
        "a000000000000001",
        "invoke_agent helper",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "helper"},
        200,
        500,
    )
    _span(
        ss,
        a,
        "a000000000000006",
        "a000000000000005",
        "chat",
        {**chat, "gen_ai.response.finish_reasons": ["stop"]},
        210,
        40,
    )
    _span(
        ss,
        a,
        "a000000000000007",
        "a000000000000005",
        "execute_tool lookup",
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"},
        300,
        10,
    )
    b = "b" * 32  # no agent: the whole trace is the run
    _span(ss, b, "b000000000000001", None, "POST /answer", {"http.route": "/answer"}, 0, 300)
    _span(ss, b, "b000000000000002", "b000000000000001", "chat", chat, 10, 100)
    _span(
        ss,
        b,
        "b000000000000003",
        "b000000000000001",
        "execute_tool search",
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"},
        150,
        10,
    )
    c = "c" * 32  # a server span above the agent is not part of the run
    _span(ss, c, "c000000000000001", None, "POST /agent", {}, 0, 900)
    _span(
        ss,
        c,
        "c000000000000002",
        "c000000000000001",
        "invoke_agent solo",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "solo"},
        100,
        400,
        error=True,
    )
    _span(ss, c, "c000000000000003", "c000000000000002", "chat", chat, 150, 50)
    store(root, req)


def test_runs(tmp_path: Path) -> None:
    _write(tmp_path)
    con = connect(str(tmp_path))
    cur = con.execute("SELECT * FROM runs ORDER BY run_id")
    names = [d[0] for d in cur.description]
    runs = {r["run_id"]: r for r in (dict(zip(names, row, strict=True)) for row in cur.fetchall())}
    assert set(runs) == {"a" * 32 + ":a000000000000001", "b" * 32, "c" * 32 + ":c000000000000002"}
    orch = runs["a" * 32 + ":a000000000000001"]
    assert (orch["agent"], orch["version"], orch["outcome"], orch["status"]) == (
        "orchestrator",
        "v7",
        "escalated",
        "OK",
    )
    assert orch["agent_run"] and orch["spans"] == 7 and orch["duration_ms"] == 1000
    assert (orch["llm_calls"], orch["tool_calls"]) == (2, 3)
    assert orch["tool_sequence"] == ["search", "search", "lookup"]
    assert orch["retries"] == 1 and orch["loop_count"] == 2 and orch["time_to_first_tool_ms"] == 100
    assert orch["error_types"] == ["TimeoutError"] and (orch["input_tokens"], orch["output_tokens"]) == (200, 20)
    assert orch["models"] == ["gpt-4o"] and sorted(orch["finish_reasons"]) == ["stop", "tool_calls"]
    trace_run = runs["b" * 32]
    assert not trace_run["agent_run"] and trace_run["agent"] is None and trace_run["spans"] == 3
    assert (trace_run["llm_calls"], trace_run["tool_calls"], trace_run["loop_count"]) == (1, 1, 1)
    solo = runs["c" * 32 + ":c000000000000002"]
    assert solo["spans"] == 2 and solo["status"] == "ERROR" and solo["duration_ms"] == 400
    assert solo["tool_sequence"] == [] and solo["time_to_first_tool_ms"] is None


def test_a_tool_call_is_a_retry_only_of_an_earlier_tool_call(tmp_path: Path) -> None:
    """Retries compare a tool call with the previous call of the same tool; a call without a tool name
    must not be compared with a failed model call (both have no tool name)."""
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    d = "d" * 32
    agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "d"}
    _span(ss, d, "d000000000000001", None, "invoke_agent d", agent, 0, 500)
    failed_chat = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}
    _span(ss, d, "d000000000000002", "d000000000000001", "chat", failed_chat, 10, 50, error=True)
    nameless = {"gen_ai.operation.name": "execute_tool"}
    _span(ss, d, "d000000000000003", "d000000000000001", "execute_tool", nameless, 100, 10)
    _span(ss, d, "d000000000000004", "d000000000000001", "execute_tool", nameless, 200, 10, error=True)
    _span(ss, d, "d000000000000005", "d000000000000001", "execute_tool", nameless, 300, 10)
    store(tmp_path, req)
    ((tool_calls, retries),) = connect(str(tmp_path)).execute("SELECT tool_calls, retries FROM runs").fetchall()
    assert (tool_calls, retries) == (3, 1)  # only the call after the failed tool call


def test_runs_on_an_empty_root(tmp_path: Path) -> None:
    assert connect(str(tmp_path)).execute("SELECT count(*) FROM runs").fetchone()[0] == 0


def _write_crossing(root: Path, stem: str) -> None:
    """One agent run whose second LLM call starts in the next hour (T0 is 800 s into its hour)."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend([kv("service.name", "svc"), kv("service.version", "v7")])
    ss = rs.scope_spans.add()
    d = "d" * 32
    chat = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 7}
    agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "night"}
    _span(ss, d, "d000000000000001", None, "invoke_agent night", agent, 0, 3_000_000)
    _span(ss, d, "d000000000000002", "d000000000000001", "chat", chat, 10, 50)
    _span(ss, d, "d000000000000003", "d000000000000001", "chat", chat, 2_900_000, 50)
    store(root, req, stem)


def _all_runs(con) -> list[tuple]:
    return con.execute("SELECT * FROM runs ORDER BY run_id").fetchall()


def test_cached_runs_equal_live_runs_and_only_changed_hours_are_derived(tmp_path: Path) -> None:
    from driftline.analysis.cost import load_prices
    from driftline.analysis.run_cache import RunCache

    _write(tmp_path)
    _write_crossing(tmp_path, "rx-000000000002")
    live = _all_runs(connect(str(tmp_path)))
    assert len(live) == 4  # the crossing trace is one run, not two
    cache = RunCache(str(tmp_path), load_prices())
    con = connect(str(tmp_path))
    cache.attach(con)
    assert len(cache.derived) == 2 and _all_runs(con) == live
    again = RunCache(str(tmp_path), load_prices())
    con = connect(str(tmp_path))
    again.attach(con)
    assert again.derived == [] and _all_runs(con) == live
    # a new file in one hour re-derives that hour only
    _write_crossing(tmp_path, "rx-000000000003")  # the same spans again: duplicates, removed by span id
    third = RunCache(str(tmp_path), load_prices())
    con = connect(str(tmp_path))
    third.attach(con)
    assert len(third.derived) == 2 and _all_runs(con) == live
    assert connect(str(tmp_path), cached_runs=True).execute("SELECT count(*) FROM runs").fetchone()[0] == 4


def test_silent_model_update_is_found_by_a_window_diff(tmp_path: Path) -> None:
    """One app version, the provider's snapshot changes between two windows: named as such."""

    from click.testing import CliRunner

    from driftline.analysis.cli import cli

    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend([kv("service.name", "svc"), kv("service.version", "v1")])
    ss = rs.scope_spans.add()
    for i in range(80):
        later = i >= 40
        trace = f"{i + 1:032x}"
        start = (i % 40) * 1000 + (7_200_000 if later else 0)  # the second window two hours later
        agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "bot"}
        _span(ss, trace, f"{i + 1:015x}1", None, "invoke_agent bot", agent, start, 500)
        chat = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-11-20" if later else "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 10,
        }
        _span(ss, trace, f"{i + 1:015x}2", f"{i + 1:015x}1", "chat gpt-4o", chat, start + 10, 100)
    store(tmp_path, req, "rx-000000000009")
    cut = "2023-11-14T23:30:00+00:00"  # between the windows (T0 is 22:13:20 UTC)
    result = CliRunner().invoke(
        cli,
        [
            "diff",
            "v1",
            "v1",
            "--data",
            str(tmp_path),
            "--baseline-until",
            cut,
            "--candidate-since",
            cut,
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert (doc["baseline"]["runs"], doc["candidate"]["runs"]) == (40, 40)
    (change,) = [c for c in doc["configuration_changes"] if c["key"] == "snapshots"]
    assert change["kind"] == "silent_model_update" and change["candidate"] == ["gpt-4o-2024-11-20"]
    assert doc["hypotheses"][0]["rule"] == "silent_model_update"


def test_a_file_that_cannot_be_read_in_a_cached_hour_is_noticed(tmp_path: Path, capsys) -> None:
    """A cached hour's files are only listed (its key vouches for them); a file that cannot be read
    changes the key, so the hour is checked again: the file is skipped with a warning, never read."""
    from driftline.analysis.cost import load_prices
    from driftline.analysis.run_cache import RunCache

    _write(tmp_path)
    live = _all_runs(connect(str(tmp_path)))
    con = connect(str(tmp_path))
    assert RunCache(str(tmp_path), load_prices()).attach(con) and _all_runs(con) == live
    hour = next((tmp_path / "spans").glob("date=*/hour=*"))
    (hour / "rx-000000000099.parquet").write_bytes(b"not parquet at all")
    capsys.readouterr()
    con = connect(str(tmp_path))
    again = RunCache(str(tmp_path), load_prices())
    assert again.attach(con) and _all_runs(con) == live and again.derived == []
    assert "rx-000000000099.parquet (not a Parquet file)" in capsys.readouterr().err
