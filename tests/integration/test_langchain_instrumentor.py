"""LangChain 1.x's `create_agent` (a LangGraph ReAct graph) with ChatOpenAI against the scripted server, traced by the
LangChain instrumentor (real langchain-core, langgraph, langchain-openai and openai)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain.agents import create_agent
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from driftline.instrumentation import settings
from driftline.instrumentation.langchain import LangChainInstrumentor
from driftline.instrumentation.openai import OpenAIInstrumentor


@tool
def lookup_order(order_id: int) -> str:
    """Find where an order is."""
    return f"order {order_id} ships Monday"


@pytest.fixture
def langchain(spans) -> Iterator:
    provider, exporter = spans
    instrumentor = LangChainInstrumentor()
    instrumentor.instrument(tracer_provider=provider, settings=settings.Settings())
    yield exporter
    instrumentor.uninstrument()


def _react_agent(model, tools):
    """LangGraph's prebuilt builder, deprecated by LangChain 1.x but still what many agents run on."""
    import warnings

    from langgraph.prebuilt import create_react_agent

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return create_react_agent(model, tools)


def _run_agent(server, build=create_agent) -> dict:
    model = ChatOpenAI(model="gpt-4o", base_url=server.base_url, api_key="test", max_retries=0)
    agent = build(model, [lookup_order])
    config = {"metadata": {"driftline.agent.name": "support", "driftline.agent.version": "v3"}}
    return agent.invoke({"messages": [("user", "where is order 42?")]}, config=config)


@pytest.mark.parametrize("build", [create_agent, _react_agent], ids=["create_agent", "create_react_agent"])
def test_react_agent_becomes_agent_chat_and_tool_spans(langchain, llm_server, build) -> None:
    result = _run_agent(llm_server, build)
    assert result["messages"][-1].content == "Order 42 ships Monday."
    finished = langchain.get_finished_spans()
    agents = [s for s in finished if s.name == "invoke_agent support"]
    chats = [s for s in finished if s.attributes.get("gen_ai.operation.name") == "chat"]
    tools = [s for s in finished if s.name == "execute_tool lookup_order"]
    assert len(agents) == 1 and len(chats) == 2 and len(tools) == 1, [s.name for s in finished]
    root = agents[0]
    assert root.attributes["gen_ai.agent.version"] == "v3" and root.parent is None
    for span in (*chats, *tools):
        assert span.parent.span_id == root.context.span_id and span.context.trace_id == root.context.trace_id
    first, second = sorted(chats, key=lambda s: s.start_time)
    assert first.attributes["gen_ai.request.model"] == "gpt-4o" and first.attributes["gen_ai.provider.name"] == "openai"
    assert first.attributes["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert (first.attributes["gen_ai.usage.input_tokens"], first.attributes["gen_ai.usage.output_tokens"]) == (57, 17)
    assert first.attributes["gen_ai.usage.cache_read.input_tokens"] == 32
    assert tuple(first.attributes["gen_ai.response.finish_reasons"]) == ("tool_calls",)
    assert tuple(first.attributes["driftline.response.tool_names"]) == ("lookup_order",)
    assert tuple(first.attributes["driftline.request.tool_names"]) == ("lookup_order",)
    assert tuple(second.attributes["gen_ai.response.finish_reasons"]) == ("stop",)
    assert tools[0].attributes["gen_ai.tool.call.id"] == "call_abc"
    assert tools[0].attributes["driftline.tool.arguments.hash"] and tools[0].attributes["driftline.tool.result.hash"]


def test_no_second_chat_span_when_the_sdk_is_instrumented_too(langchain, spans, llm_server) -> None:
    provider, exporter = spans
    sdk = OpenAIInstrumentor()
    sdk.instrument(tracer_provider=provider, settings=settings.Settings())
    try:
        _run_agent(llm_server)
    finally:
        sdk.uninstrument()
    chats = [s for s in exporter.get_finished_spans() if s.attributes.get("gen_ai.operation.name") == "chat"]
    assert len(chats) == 2  # one per model call, made by the OpenAI instrumentor


def test_failing_tool_marks_its_span(langchain, llm_server) -> None:
    @tool
    def broken(order_id: int) -> str:
        """Always fails."""
        raise RuntimeError("backend down")

    model = ChatOpenAI(model="gpt-4o", base_url=llm_server.base_url, api_key="test", max_retries=0)
    agent = create_agent(model, [broken])
    with pytest.raises(RuntimeError, match="backend down"):
        agent.invoke({"messages": [("user", "where is order 42?")]})
    finished = langchain.get_finished_spans()
    tool_spans = [s for s in finished if s.name == "execute_tool broken"]
    assert len(tool_spans) == 1 and tool_spans[0].attributes["error.type"] == "RuntimeError"
    root = next(s for s in finished if s.attributes.get("gen_ai.operation.name") == "invoke_agent")
    assert root.status.status_code.name == "ERROR"  # the run failed with its tool
    # agent semantics: a tool failure by taxonomy, its code the exception's type, its message hashed
    (failure,) = [dict(e.attributes) for e in tool_spans[0].events if e.name == "driftline.failure"]
    assert (failure["driftline.failure.type"], failure["driftline.failure.code"]) == ("tool", "RuntimeError")
    assert failure["driftline.failure.step"] == format(tool_spans[0].context.span_id, "016x")
    assert "backend down" not in str(failure) and len(failure["driftline.failure.message.hash"]) == 64


def test_several_tools_offered_make_the_choice_a_decision(langchain, llm_server) -> None:
    @tool
    def get_weather(city: str) -> str:
        """Weather in a city."""
        return "sunny"

    model = ChatOpenAI(model="gpt-4o", base_url=llm_server.base_url, api_key="test", max_retries=0)
    create_agent(model, [lookup_order, get_weather]).invoke({"messages": [("user", "where is order 42?")]})
    decisions = [
        dict(e.attributes) for s in langchain.get_finished_spans() for e in s.events if e.name == "driftline.decision"
    ]
    assert decisions == [
        {
            "driftline.decision.type": "tool_selection",
            "driftline.decision.selected": "lookup_order",  # the scripted model calls the first tool offered
            "driftline.decision.candidates": ("lookup_order", "get_weather"),
        }
    ]


def test_an_output_parser_error_is_a_schema_invalid_signal(langchain, llm_server) -> None:
    from langchain_core.exceptions import OutputParserException
    from langchain_core.output_parsers import JsonOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    model = ChatOpenAI(model="gpt-4o", base_url=llm_server.base_url, api_key="test", max_retries=0)
    chain = ChatPromptTemplate.from_messages([("user", "{q}")]) | model | JsonOutputParser()
    with pytest.raises(OutputParserException):  # the scripted answer is prose, not JSON
        chain.invoke({"q": "where is order 42?"})
    finished = langchain.get_finished_spans()
    signals = [dict(e.attributes) for s in finished for e in s.events if e.name == "driftline.signal"]
    assert signals == [
        {
            "driftline.signal.type": "output",
            "driftline.signal.code": "schema_invalid",
            "driftline.signal.value": True,
            "driftline.signal.weight": 1.0,
        }
    ]  # once, though the error passes through every enclosing chain
    root = next(s for s in finished if s.attributes.get("gen_ai.operation.name") == "invoke_agent")
    assert any(e.name == "driftline.signal" for e in root.events)


def test_async_agent_run(langchain, llm_server) -> None:
    import asyncio

    model = ChatOpenAI(model="gpt-4o", base_url=llm_server.base_url, api_key="test", max_retries=0)
    agent = create_agent(model, [lookup_order])
    result = asyncio.run(agent.ainvoke({"messages": [("user", "where is order 42?")]}))
    assert result["messages"][-1].content == "Order 42 ships Monday."
    finished = langchain.get_finished_spans()
    (root,) = [s for s in finished if s.attributes.get("gen_ai.operation.name") == "invoke_agent"]
    children = [s for s in finished if s.parent is not None and s.parent.span_id == root.context.span_id]
    assert sorted(s.attributes["gen_ai.operation.name"] for s in children) == ["chat", "chat", "execute_tool"]
