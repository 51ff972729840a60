"""The OpenAI instrumentor with the real ``openai`` client talking to a scripted server on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import openai
import pytest

from driftline.instrumentation import settings
from driftline.instrumentation.openai import OpenAIInstrumentor

TOOLS = [{"type": "function", "function": {"name": "lookup_order", "parameters": {"type": "object"}}}]
MESSAGES = [
    {"role": "system", "content": "You are a support agent."},
    {"role": "user", "content": "Where is order 42? jane@example.com"},
]


@pytest.fixture
def instrumented(spans) -> Iterator:
    provider, exporter = spans
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider, settings=settings.Settings())
    yield exporter
    instrumentor.uninstrument()


def _client(server, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0, **kw)


def _only(exporter):
    finished = exporter.get_finished_spans()
    assert len(finished) == 1, [s.name for s in finished]
    return finished[0]


def test_chat_with_tool_call(instrumented, llm_server) -> None:
    result = _client(llm_server).chat.completions.create(
        model="gpt-4o", messages=MESSAGES, tools=TOOLS, temperature=0.2, max_tokens=256
    )
    assert result.choices[0].message.tool_calls[0].function.name == "lookup_order"
    span = _only(instrumented)
    a = span.attributes
    assert span.name == "chat gpt-4o" and span.kind.name == "CLIENT"
    assert (a["gen_ai.operation.name"], a["gen_ai.provider.name"], a["gen_ai.request.model"]) == (
        "chat",
        "openai",
        "gpt-4o",
    )
    assert a["gen_ai.response.model"] == "gpt-4o-2024-08-06" and a["gen_ai.response.id"] == "chatcmpl-1"
    assert (a["gen_ai.request.temperature"], a["gen_ai.request.max_tokens"]) == (0.2, 256)
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (57, 17)
    assert (a["gen_ai.usage.cache_read.input_tokens"], a["gen_ai.usage.reasoning.output_tokens"]) == (32, 5)
    assert tuple(a["gen_ai.response.finish_reasons"]) == ("tool_calls",)
    assert tuple(a["driftline.response.tool_names"]) == ("lookup_order",)
    assert tuple(a["driftline.request.tool_names"]) == ("lookup_order",)
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == int(llm_server.base_url.split(":")[2][:-3])
    assert len(a["driftline.input.hash"]) == 64 and a["driftline.input.chars"] > 0 and a["driftline.prompt.hash"]
    assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a


def test_the_tool_picked_among_several_offered_is_a_decision(instrumented, llm_server) -> None:
    weather = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    _client(llm_server).chat.completions.create(model="gpt-4o", messages=MESSAGES, tools=[*TOOLS, weather])
    (event,) = [e for e in _only(instrumented).events if e.name == "driftline.decision"]
    assert dict(event.attributes) == {
        "driftline.decision.type": "tool_selection",
        "driftline.decision.selected": "lookup_order",
        "driftline.decision.candidates": ("lookup_order", "get_weather"),
    }
    _client(llm_server).chat.completions.create(
        model="gpt-4o", messages=MESSAGES, tools=TOOLS
    )  # one offered: no choice
    assert not [e for e in instrumented.get_finished_spans()[-1].events if e.name == "driftline.decision"]


def test_a_raw_response_is_read_without_taking_it_from_the_caller(instrumented, llm_server) -> None:
    """CrewAI calls ``with_raw_response.create``: the span reads the parsed response (the SDK caches the
    parse, so the caller's own ``parse()`` returns the same object) instead of recording no usage."""
    raw = _client(llm_server).chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
    assert raw.http_response.status_code == 200
    completion = raw.parse()
    assert completion.choices[0].message.content == "Order 42 ships Monday." and raw.parse() is completion
    a = _only(instrumented).attributes
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (57, 17)
    assert a["gen_ai.response.model"] == "gpt-4o-2024-08-06" and tuple(a["gen_ai.response.finish_reasons"]) == ("stop",)


def test_content_on_spans_when_asked(spans, llm_server, monkeypatch) -> None:
    provider, exporter = spans
    monkeypatch.setenv(settings.CAPTURE_MESSAGE_CONTENT, "SPAN_ONLY")
    monkeypatch.setenv(settings.SCRUB_PII, "true")
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        _client(llm_server).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    finally:
        instrumentor.uninstrument()
    a = _only(exporter).attributes
    assert json.loads(a["gen_ai.input.messages"])[0]["content"] == "Where is order 42? [EMAIL]"
    assert json.loads(a["gen_ai.system_instructions"]) == ["You are a support agent."]
    assert json.loads(a["gen_ai.output.messages"])[0]["content"] == "Order 42 ships Monday."


def test_streaming_span_ends_when_consumed(instrumented, llm_server) -> None:
    stream = _client(llm_server).chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert instrumented.get_finished_spans() == ()  # not ended before the stream is read
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text.strip() == "Order 42 ships Monday."
    a = _only(instrumented).attributes
    assert tuple(a["gen_ai.response.finish_reasons"]) == ("stop",) and a["gen_ai.usage.output_tokens"] == 17
    assert a["gen_ai.response.model"] == "gpt-4o-2024-08-06" and a["driftline.output.hash"]


def test_streamed_tool_call_and_early_close(instrumented, llm_server) -> None:
    with _client(llm_server).chat.completions.create(
        model="gpt-4o", messages=MESSAGES, tools=TOOLS, stream=True
    ) as stream:
        next(iter(stream))
    a = _only(instrumented).attributes  # closed after one chunk: the span still ends
    assert a["gen_ai.operation.name"] == "chat"
    instrumented.clear()
    for _ in _client(llm_server).chat.completions.create(model="gpt-4o", messages=MESSAGES, tools=TOOLS, stream=True):
        pass
    assert tuple(_only(instrumented).attributes["driftline.response.tool_names"]) == ("lookup_order",)


def test_async_chat_and_stream(instrumented, llm_server) -> None:
    async def go() -> str:
        client = openai.AsyncOpenAI(base_url=llm_server.base_url, api_key="test", max_retries=0)
        first = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        await client.close()
        return first.choices[0].message.content + "|" + "".join(parts)

    assert asyncio.run(go()).startswith("Order 42 ships Monday.|Order")
    finished = instrumented.get_finished_spans()
    assert [s.name for s in finished] == ["chat gpt-4o-mini", "chat gpt-4o-mini"]
    assert all(tuple(s.attributes["gen_ai.response.finish_reasons"]) == ("stop",) for s in finished)


@pytest.mark.parametrize(("model", "error"), [("error-429", "RateLimitError"), ("error-500", "InternalServerError")])
def test_errors_are_recorded_and_reraised(instrumented, llm_server, model, error) -> None:
    with pytest.raises(openai.APIStatusError):
        _client(llm_server).chat.completions.create(model=model, messages=MESSAGES)
    span = _only(instrumented)
    assert span.attributes["error.type"] == error and span.status.status_code.name == "ERROR"


def test_embeddings_and_responses(instrumented, llm_server) -> None:
    client = _client(llm_server)
    client.embeddings.create(model="text-embedding-3-small", input="order 42")
    result = client.responses.create(
        model="gpt-4.1",
        input="hi",
        instructions="be brief",
        tools=[{"type": "function", "name": "weather", "parameters": {}}],
    )
    assert result.output[0].name == "weather"
    emb, resp = instrumented.get_finished_spans()
    assert emb.name == "embeddings text-embedding-3-small" and emb.attributes["gen_ai.usage.input_tokens"] == 4
    assert emb.attributes["gen_ai.embeddings.dimension.count"] == 3
    a = resp.attributes
    assert resp.name == "chat gpt-4.1" and a["gen_ai.response.model"] == "gpt-4.1-2025"
    assert (
        a["gen_ai.usage.input_tokens"],
        a["gen_ai.usage.output_tokens"],
        a["gen_ai.usage.reasoning.output_tokens"],
    ) == (20, 5, 2)
    assert tuple(a["driftline.response.tool_names"]) == ("weather",) and a["driftline.prompt.hash"]


def test_uninstrument_removes_the_patches(spans, llm_server) -> None:
    provider, exporter = spans
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider, settings=settings.Settings())
    instrumentor.uninstrument()
    _client(llm_server).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert exporter.get_finished_spans() == ()


def test_stands_aside_when_contrib_instrumentor_is_active(spans, llm_server, monkeypatch) -> None:
    from driftline.instrumentation import openai as oi

    provider, exporter = spans
    monkeypatch.setattr(oi, "contrib_instrumentor_active", lambda: True)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider, settings=settings.Settings())
    try:
        _client(llm_server).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    finally:
        instrumentor.uninstrument()
    assert exporter.get_finished_spans() == ()
