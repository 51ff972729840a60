"""Agent runs, tool calls and their decorators as GenAI spans; content settings."""

from __future__ import annotations

import asyncio
import hashlib
import logging

import pytest

from driftline.instrumentation import agent as agent_mod
from driftline.instrumentation import agent_run, settings, tool, tool_call, track
from driftline.instrumentation.settings import ContentMode


@pytest.fixture(autouse=True)
def _no_content() -> None:
    agent_mod.configure(settings.Settings())
    yield
    agent_mod.configure(None)


def _by_name(exporter) -> dict:
    return {s.name: s for s in exporter.get_finished_spans()}


def test_agent_run_nests_tools_and_records_outcome(spans) -> None:
    _, exporter = spans
    with agent_run("orchestrator", version="v2.1", conversation_id="c-1") as outer:
        with agent_run("researcher", version="v1") as inner:
            with tool_call("search_kb", arguments={"q": "refund", "k": 3}, call_id="call_1") as call:
                call.set_result(["doc-1"])
            inner.set_outcome("resolved")
        outer.set_outcome("escalated")
        outer.set_attribute("tenant", "acme")
    got = _by_name(exporter)
    orch, res, tool_span = (
        got["invoke_agent orchestrator"],
        got["invoke_agent researcher"],
        got["execute_tool search_kb"],
    )
    assert res.parent.span_id == orch.context.span_id and tool_span.parent.span_id == res.context.span_id
    assert orch.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert orch.attributes["gen_ai.agent.name"] == "orchestrator" and orch.attributes["gen_ai.agent.version"] == "v2.1"
    assert orch.attributes["gen_ai.agent.id"] == "orchestrator" and orch.attributes["gen_ai.conversation.id"] == "c-1"
    assert orch.attributes["driftline.outcome"] == "escalated" and orch.attributes["tenant"] == "acme"
    assert res.attributes["driftline.outcome"] == "resolved"
    assert (
        tool_span.attributes["gen_ai.tool.name"] == "search_kb"
        and tool_span.attributes["gen_ai.tool.call.id"] == "call_1"
    )
    assert tool_span.attributes["gen_ai.tool.type"] == "function"
    expected = hashlib.sha256(b'{"k":3,"q":"refund"}').hexdigest()
    assert tool_span.attributes["driftline.tool.arguments.hash"] == expected
    assert "gen_ai.tool.call.arguments" not in tool_span.attributes  # content capture is off
    assert tool_span.attributes["driftline.tool.result.hash"] == hashlib.sha256(b'["doc-1"]').hexdigest()


def test_exceptions_mark_spans_failed_and_propagate(spans) -> None:
    _, exporter = spans
    with pytest.raises(TimeoutError), agent_run("a"), tool_call("slow"):
        raise TimeoutError("too slow")
    for span in exporter.get_finished_spans():
        assert span.status.status_code.name == "ERROR" and span.attributes["error.type"] == "TimeoutError"


def test_retries_of_the_same_call_are_numbered(spans) -> None:
    _, exporter = spans
    with agent_run("a"):
        for _ in range(3):
            with tool_call("lookup", arguments={"id": 1}):
                pass
        with tool_call("lookup", arguments={"id": 2}):
            pass
    attempts = [
        s.attributes.get("driftline.tool.attempt")
        for s in exporter.get_finished_spans()
        if s.name == "execute_tool lookup"
    ]
    assert attempts == [None, 2, 3, None]


def test_content_capture_puts_arguments_on_spans_and_scrubs(spans, monkeypatch) -> None:
    _, exporter = spans
    monkeypatch.setenv(settings.SCRUB_PII, "true")
    agent_mod.configure(settings.load(capture_content=True))
    with tool_call("email", arguments={"to": "jane@example.com"}) as call:
        call.set_result("sent to jane@example.com")
    span = exporter.get_finished_spans()[0]
    assert span.attributes["gen_ai.tool.call.arguments"] == '{"to":"[EMAIL]"}'
    assert span.attributes["gen_ai.tool.call.result"] == "sent to [EMAIL]"


def test_decorators_cover_sync_async_and_generators(spans) -> None:
    _, exporter = spans

    @tool
    def add(a: int, b: int) -> int:
        return a + b

    @track(agent="sync-agent", version="v1")
    def run_sync() -> int:
        return add(1, b=2)

    @track(agent="async-agent")
    async def run_async() -> int:
        return add(2, 3)

    @track(agent="gen-agent")
    def run_gen():
        yield add(1, 1)
        yield add(2, 2)

    @track(agent="agen-agent")
    async def run_agen():
        yield add(3, 3)

    async def consume() -> list[int]:
        return [x async for x in run_agen()]

    assert run_sync() == 3 and asyncio.run(run_async()) == 5 and list(run_gen()) == [2, 4]
    assert asyncio.run(consume()) == [6]
    finished = exporter.get_finished_spans()
    names = [s.name for s in finished]
    assert names.count("execute_tool add") == 5
    for agent in ("sync-agent", "async-agent", "gen-agent", "agen-agent"):
        assert f"invoke_agent {agent}" in names
    gen_root = next(s for s in finished if s.name == "invoke_agent gen-agent")
    assert sum(1 for s in finished if s.parent and s.parent.span_id == gen_root.context.span_id) == 2
    first_add = next(s for s in finished if s.name == "execute_tool add")
    assert first_add.attributes["driftline.tool.arguments.hash"] == hashlib.sha256(b'{"a":1,"b":2}').hexdigest()


@pytest.mark.parametrize(
    ("raw", "mode"),
    [
        (None, ContentMode.NO_CONTENT),
        ("true", ContentMode.SPAN_ONLY),
        ("False", ContentMode.NO_CONTENT),
        ("SPAN_ONLY", ContentMode.SPAN_ONLY),
        ("span_and_event", ContentMode.SPAN_AND_EVENT),
        ("EVENT_ONLY", ContentMode.EVENT_ONLY),
        ("NO_CONTENT", ContentMode.NO_CONTENT),
    ],
)
def test_content_mode_parsing(raw: str | None, mode: ContentMode) -> None:
    assert settings.parse_content_mode(raw) is mode


def test_bad_content_mode_warns_and_captures_nothing(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        assert settings.parse_content_mode("everything") is ContentMode.NO_CONTENT
    assert "not understood" in caplog.text
