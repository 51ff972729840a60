"""The `runs` view: agent subtrees (outermost agent wins), agentless traces, retries and rounds."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from driftline.analysis.db import connect
from driftline.collector import otlp
from driftline.collector.normalize.normalizer import NormalizeOptions, SpanNormalizer
from driftline.collector.sink.parquet import ParquetSink
from tests.integration.otlp_payloads import kv

T0 = 1_700_000_000_000_000_000
MS = 1_000_000


def _span(
    ss,
    trace: str,
    sid: str,
    parent: str | None,
    name: str,
    attrs: dict,
    start_ms: int,
    dur_ms: int,
    error: bool = False,
) -> None:
    span = ss.spans.add()
    span.trace_id, span.span_id = bytes.fromhex(trace), bytes.fromhex(sid)
    if parent:
        span.parent_span_id = bytes.fromhex(parent)
    span.name = name
    span.start_time_unix_nano, span.end_time_unix_nano = T0 + start_ms * MS, T0 + (start_ms + dur_ms) * MS
    span.attributes.extend(kv(k, v) for k, v in attrs.items())
    if error:
        span.status.code = 2


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
    norm = SpanNormalizer(NormalizeOptions())
    norm.add_request(otlp.parse("traces", req.SerializeToString()), 1)
    ParquetSink(str(root)).write("spans", norm.table(), norm.hours, "rx-000000000001")


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
    norm = SpanNormalizer(NormalizeOptions())
    norm.add_request(otlp.parse("traces", req.SerializeToString()), 1)
    ParquetSink(str(tmp_path)).write("spans", norm.table(), norm.hours, "rx-000000000001")
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
    norm = SpanNormalizer(NormalizeOptions())
    norm.add_request(otlp.parse("traces", req.SerializeToString()), 1)
    ParquetSink(str(root)).write("spans", norm.table(), norm.hours, stem)


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
    import json

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
    norm = SpanNormalizer(NormalizeOptions())
    norm.add_request(otlp.parse("traces", req.SerializeToString()), 1)
    ParquetSink(str(tmp_path)).write("spans", norm.table(), norm.hours, "rx-000000000009")
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


def test_tokens_and_cost_count_each_model_call_once_whichever_instrumentors_are_on(tmp_path: Path) -> None:
    """A framework's LLM span (OpenInference, with tokens) around our SDK chat span (with the same tokens),
    once directly and once through a CHAIN span, and an AGENT span carrying the run's totals: the run
    counts the two leaf calls only, and the cost report prices them once."""
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    e = "e" * 32
    oi_agent = {"openinference.span.kind": "AGENT", "agent.name": "crew", "llm.token_count.prompt": 300}
    oi_llm = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o",
        "llm.token_count.prompt": 100,
        "llm.token_count.completion": 10,
    }
    chain = {"openinference.span.kind": "CHAIN"}
    chat = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 10,
    }
    _span(ss, e, "e000000000000001", None, "Agent.run", oi_agent, 0, 1000)
    _span(ss, e, "e000000000000002", "e000000000000001", "OpenAILike.chat", oi_llm, 10, 100)
    _span(ss, e, "e000000000000003", "e000000000000002", "chat gpt-4o", chat, 20, 80)
    _span(ss, e, "e000000000000004", "e000000000000001", "OpenAILike.chat", oi_llm, 200, 100)
    _span(ss, e, "e000000000000005", "e000000000000004", "synthesize", chain, 210, 90)
    _span(ss, e, "e000000000000006", "e000000000000005", "chat gpt-4o", chat, 220, 70)
    _span(ss, e, "e000000000000007", "e000000000000001", "OpenAILike.chat", oi_llm, 400, 100)  # a leaf itself
    norm = SpanNormalizer(NormalizeOptions())
    norm.add_request(otlp.parse("traces", req.SerializeToString()), 1)
    ParquetSink(str(tmp_path)).write("spans", norm.table(), norm.hours, "rx-000000000001")
    con = connect(str(tmp_path))
    run = con.execute("SELECT llm_calls, input_tokens, output_tokens, cost FROM runs").fetchall()
    counted = {r[0] for r in con.execute("SELECT span_id FROM llm_calls").fetchall()}
    assert counted == {"e000000000000003", "e000000000000006", "e000000000000007"}
    ((calls, tokens_in, tokens_out, cost),) = run
    assert (calls, tokens_in, tokens_out) == (3, 300, 30)
    (priced,) = con.execute("SELECT sum(cost) FROM llm_call_costs").fetchone()
    assert cost is not None and abs(cost - priced) < 1e-12


def test_a_trace_of_agent_construction_only_is_not_a_run(tmp_path: Path) -> None:
    """AutoGen records ``create_agent`` in a trace of its own: nothing ran there."""
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    created = {"gen_ai.operation.name": "create_agent", "gen_ai.agent.name": "order_agent"}
    _span(ss, "f" * 32, "f000000000000001", None, "create_agent order_agent", created, 0, 1)
    agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "order_agent"}
    _span(ss, "9" * 32, "9000000000000001", None, "invoke_agent order_agent", agent, 5, 100)
    norm = SpanNormalizer(NormalizeOptions())
    norm.add_request(otlp.parse("traces", req.SerializeToString()), 1)
    ParquetSink(str(tmp_path)).write("spans", norm.table(), norm.hours, "rx-000000000001")
    runs = connect(str(tmp_path)).execute("SELECT run_id, agent FROM runs").fetchall()
    assert runs == [("9" * 32 + ":9000000000000001", "order_agent")]


def test_ag2_usage_records_count_only_spend_no_chat_span_recorded(tmp_path: Path) -> None:
    """AG2's ``record_usage model_call`` repeats its chat span's tokens (not counted); ``record_usage
    compaction`` is a model call made outside the chat hooks (counted)."""
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    t = "7" * 32
    agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "a", "ag2.span.type": "agent"}
    chat = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 57,
        "gen_ai.usage.output_tokens": 17,
        "gen_ai.usage.thinking_tokens": 5,
    }
    usage = {
        "ag2.span.type": "usage",
        "gen_ai.response.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 57,
        "gen_ai.usage.output_tokens": 17,
    }
    _span(ss, t, "7000000000000001", None, "invoke_agent a", agent, 0, 100)
    _span(ss, t, "7000000000000002", "7000000000000001", "chat gpt-4o", chat, 1, 10)
    _span(
        ss,
        t,
        "7000000000000003",
        "7000000000000001",
        "record_usage model_call",
        {**usage, "ag2.usage.kind": "model_call"},
        12,
        0,
    )
    _span(
        ss,
        t,
        "7000000000000004",
        "7000000000000001",
        "record_usage compaction",
        {**usage, "ag2.usage.kind": "compaction", "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 2},
        50,
        0,
    )
    norm = SpanNormalizer(NormalizeOptions())
    norm.add_request(otlp.parse("traces", req.SerializeToString()), 1)
    ParquetSink(str(tmp_path)).write("spans", norm.table(), norm.hours, "rx-000000000001")
    con = connect(str(tmp_path))
    assert con.execute("SELECT llm_calls, input_tokens, output_tokens FROM runs").fetchall() == [(2, 67, 19)]
    assert con.execute("SELECT reasoning_tokens FROM spans WHERE name = 'chat gpt-4o'").fetchone() == (5,)


def test_framework_spans_are_read_by_their_names_and_autogen_is_no_provider(tmp_path: Path) -> None:
    """OpenInference agent and tool spans that name the agent or tool only in the span name, and AutoGen's
    ``gen_ai.system="autogen"`` (the framework, not a model provider: it stays in ``attributes``)."""
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    t = "6" * 32
    _span(ss, t, "6000000000000001", None, "ReAct.forward", {"openinference.span.kind": "CHAIN"}, 0, 100)
    _span(
        ss,
        t,
        "6000000000000002",
        "6000000000000001",
        "lookup_order.__call__",
        {"openinference.span.kind": "TOOL"},
        1,
        5,
    )
    _span(
        ss,
        t,
        "6000000000000003",
        "6000000000000001",
        "OpenAILike._prepare_chat_with_tools",
        {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o"},
        6,
        1,
    )
    a = "5" * 32
    autogen = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "x", "gen_ai.system": "autogen"}
    _span(ss, a, "5000000000000001", None, "invoke_agent x", autogen, 0, 10)
    norm = SpanNormalizer(NormalizeOptions())
    norm.add_request(otlp.parse("traces", req.SerializeToString()), 1)
    ParquetSink(str(tmp_path)).write("spans", norm.table(), norm.hours, "rx-000000000001")
    con = connect(str(tmp_path))
    rows = con.execute("SELECT name, operation, agent_name, tool_name, provider FROM spans ORDER BY span_id").fetchall()
    assert rows == [
        ("invoke_agent x", "invoke_agent", "x", None, None),
        ("ReAct.forward", "invoke_agent", "ReAct", None, None),
        ("lookup_order.__call__", "execute_tool", None, "lookup_order", None),
        ("OpenAILike._prepare_chat_with_tools", "other", None, None, None),
    ]
    (attrs,) = con.execute("SELECT attributes FROM spans WHERE name = 'invoke_agent x'").fetchone()
    assert dict(attrs)["gen_ai.system"] == "autogen"
    assert con.execute("SELECT agent, tool_sequence, llm_calls FROM runs WHERE agent = 'ReAct'").fetchall() == [
        ("ReAct", ["lookup_order"], 0)
    ]


def test_a_retrieval_span_keeps_its_document_count_ids_and_hashes_without_the_text(tmp_path: Path) -> None:
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    docs = {
        "openinference.span.kind": "RETRIEVER",
        "retrieval.documents.0.document.id": "d-7",
        "retrieval.documents.0.document.content": "Refunds take five days.",
        "retrieval.documents.0.document.score": 2.5,
        "retrieval.documents.1.document.id": "d-3",
        "retrieval.documents.1.document.content": "Shipping is free over 50 EUR.",
    }
    _span(ss, "4" * 32, "4000000000000001", None, "InMemoryBM25Retriever.run", docs, 0, 3)
    norm = SpanNormalizer(NormalizeOptions())
    norm.add_request(otlp.parse("traces", req.SerializeToString()), 1)
    ParquetSink(str(tmp_path)).write("spans", norm.table(), norm.hours, "rx-000000000001")
    ((operation, attrs, output),) = (
        connect(str(tmp_path)).execute("SELECT operation, attributes, output_content FROM spans").fetchall()
    )
    a = dict(attrs)
    assert operation == "retrieval" and output is None  # the text is content: not stored by default
    assert a["driftline.retrieval.documents"] == "2"
    assert json.loads(a["driftline.retrieval.document_ids"]) == ["d-7", "d-3"]
    hashes = json.loads(a["driftline.retrieval.document_hashes"])
    assert hashes == [
        hashlib.sha256(t.encode()).hexdigest()
        for t in (docs["retrieval.documents.0.document.content"], docs["retrieval.documents.1.document.content"])
    ]
    assert not any(k.endswith(".document.content") for k in a)


def test_the_tools_offered_are_read_from_every_convention_and_fingerprinted(tmp_path: Path) -> None:
    """Driftline's list, GenAI semconv's gen_ai.tool.definitions and OpenInference's llm.tools.* JSON all
    give the offered tools' names; the run lists them, and the configuration fingerprint counts them."""
    from driftline.analysis.diff.configuration import fingerprint

    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    chat = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}
    definitions = json.dumps([{"type": "function", "name": "search"}, {"type": "function", "name": "refund"}])
    cases = {
        "3": {**chat, "driftline.request.tool_names": ["lookup_order", "get_weather"]},
        "2": {**chat, "gen_ai.tool.definitions": definitions},
        "1": {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o",
            "llm.tools.0.tool.json_schema": json.dumps({"type": "function", "function": {"name": "b_tool"}}),
            "llm.tools.1.tool.json_schema": json.dumps({"type": "function", "function": {"name": "a_tool"}}),
        },
    }
    for digit, attrs in cases.items():
        t = digit * 32
        _span(ss, t, digit * 16, None, "invoke_agent x", {"gen_ai.operation.name": "invoke_agent"}, 0, 10)
        _span(ss, t, digit * 15 + "f", digit * 16, "chat", attrs, 1, 5)
    norm = SpanNormalizer(NormalizeOptions())
    norm.add_request(otlp.parse("traces", req.SerializeToString()), 1)
    ParquetSink(str(tmp_path)).write("spans", norm.table(), norm.hours, "rx-000000000001")
    con = connect(str(tmp_path))
    offered = con.execute("SELECT trace_id, tools_offered FROM spans WHERE operation = 'chat' ORDER BY 1").fetchall()
    assert [o for _, o in offered] == [["b_tool", "a_tool"], ["search", "refund"], ["lookup_order", "get_weather"]]
    runs = con.execute("SELECT tools_offered FROM runs ORDER BY trace_id").fetchall()
    assert [r for (r,) in runs] == [["a_tool", "b_tool"], ["refund", "search"], ["get_weather", "lookup_order"]]
    table = con.sql("SELECT tools_offered FROM runs").to_arrow_table()
    shares = fingerprint({"tools_offered": table.column("tools_offered")})["tools_offered"]
    assert shares == {
        name: pytest.approx(1 / 3) for name in ("a_tool", "b_tool", "refund", "search", "get_weather", "lookup_order")
    }
