"""The Anthropic instrumentor with the real ``anthropic`` client talking to a scripted server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import anthropic
import pytest

from driftline.instrumentation import settings
from driftline.instrumentation.anthropic import AnthropicInstrumentor

TOOLS = [{"name": "lookup_order", "description": "find an order", "input_schema": {"type": "object"}}]
MESSAGES = [{"role": "user", "content": "Where is order 42?"}]


@pytest.fixture
def instrumented(spans, monkeypatch) -> Iterator:
    monkeypatch.setenv("ANTHROPIC_OPEN_TELEMETRY", "false")  # the SDK's own spans off: Driftline's on
    provider, exporter = spans
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=provider, settings=settings.Settings())
    yield exporter
    instrumentor.uninstrument()


def _client(server) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.root_url, api_key="test", max_retries=0)


def _only(exporter):
    finished = exporter.get_finished_spans()
    assert len(finished) == 1, [s.name for s in finished]
    return finished[0]


def test_messages_with_tool_use(instrumented, llm_server) -> None:
    result = _client(llm_server).messages.create(
        model="claude-3-5-sonnet", max_tokens=512, messages=MESSAGES, tools=TOOLS, system="You are a support agent."
    )
    assert result.content[0].name == "lookup_order"
    span = _only(instrumented)
    a = span.attributes
    assert span.name == "chat claude-3-5-sonnet" and a["gen_ai.provider.name"] == "anthropic"
    assert a["gen_ai.response.model"] == "claude-3-5-sonnet-20241022" and a["gen_ai.response.id"] == "msg_1"
    assert a["gen_ai.request.max_tokens"] == 512
    assert a["gen_ai.usage.input_tokens"] == 40 + 30 + 5 and a["gen_ai.usage.output_tokens"] == 12
    assert a["gen_ai.usage.cache_read.input_tokens"] == 30 and a["gen_ai.usage.cache_creation.input_tokens"] == 5
    assert tuple(a["gen_ai.response.finish_reasons"]) == ("tool_use",)
    assert tuple(a["driftline.response.tool_names"]) == ("lookup_order",)
    assert tuple(a["driftline.request.tool_names"]) == ("lookup_order",)
    assert a["driftline.prompt.hash"] and a["driftline.input.hash"] and "gen_ai.input.messages" not in a


def test_the_tool_picked_among_several_offered_is_a_decision(instrumented, llm_server) -> None:
    weather = {"name": "get_weather", "description": "weather", "input_schema": {"type": "object"}}
    _client(llm_server).messages.create(
        model="claude-3-5-sonnet", max_tokens=64, messages=MESSAGES, tools=[*TOOLS, weather]
    )
    (event,) = [dict(e.attributes) for e in _only(instrumented).events if e.name == "driftline.decision"]
    assert event["driftline.decision.selected"] == "lookup_order"
    assert event["driftline.decision.candidates"] == ("lookup_order", "get_weather")


def test_streaming_create(instrumented, llm_server) -> None:
    stream = _client(llm_server).messages.create(
        model="claude-3-5-sonnet", max_tokens=64, messages=MESSAGES, stream=True
    )
    assert instrumented.get_finished_spans() == ()
    text = "".join(e.delta.text for e in stream if e.type == "content_block_delta")
    assert text.strip() == "Order 42 ships Monday."
    a = _only(instrumented).attributes
    assert tuple(a["gen_ai.response.finish_reasons"]) == ("end_turn",)
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (75, 12)
    assert a["gen_ai.response.model"] == "claude-3-5-sonnet-20241022" and a["driftline.output.hash"]


def test_async_and_streamed_tool_use(instrumented, llm_server) -> None:
    async def go() -> None:
        client = anthropic.AsyncAnthropic(base_url=llm_server.root_url, api_key="test", max_retries=0)
        await client.messages.create(model="claude-3-haiku", max_tokens=64, messages=MESSAGES)
        stream = await client.messages.create(
            model="claude-3-haiku", max_tokens=64, messages=MESSAGES, tools=TOOLS, stream=True
        )
        async for _ in stream:
            pass
        await client.close()

    asyncio.run(go())
    plain, tools = instrumented.get_finished_spans()
    assert tuple(plain.attributes["gen_ai.response.finish_reasons"]) == ("end_turn",)
    assert tuple(tools.attributes["driftline.response.tool_names"]) == ("lookup_order",)
    assert tuple(tools.attributes["gen_ai.response.finish_reasons"]) == ("tool_use",)


def test_errors_are_recorded_and_reraised(instrumented, llm_server) -> None:
    with pytest.raises(anthropic.RateLimitError):
        _client(llm_server).messages.create(model="error-429", max_tokens=8, messages=MESSAGES)
    span = _only(instrumented)
    assert span.attributes["error.type"] == "RateLimitError" and span.status.status_code.name == "ERROR"


def test_one_span_per_call_when_the_sdk_traces_itself(spans, llm_server, monkeypatch) -> None:
    monkeypatch.delenv("ANTHROPIC_OPEN_TELEMETRY", raising=False)
    provider, exporter = spans
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=provider, settings=settings.Settings())
    try:
        _client(llm_server).messages.create(model="claude-3-5-sonnet", max_tokens=8, messages=MESSAGES)
    finally:
        instrumentor.uninstrument()
    span = _only(exporter)
    assert span.name == "anthropic.messages.create"  # the SDK's own, which the collector maps
    assert span.attributes["gen_ai.provider.name"] == "anthropic"
