"""Runs from framework spans: each model call counted once, agents and tools named from span names,
construction-only traces, AG2 usage records, retrievals and the tools offered."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from driftline.analysis.db import connect
from tests.span_rows import add_span as _span
from tests.span_rows import store


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
    store(tmp_path, req)
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
    store(tmp_path, req)
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
    store(tmp_path, req)
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
    store(tmp_path, req)
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
    store(tmp_path, req)
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
    store(tmp_path, req)
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
