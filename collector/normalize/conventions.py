"""THE mapping table: canonical column <- source attribute keys, per instrumentation convention.

Why data and not code: four conventions (OTel GenAI semconv current and deprecated, OpenInference,
OpenLLMetry / Traceloop, the Vercel AI SDK) describe the same facts with different keys. Keeping every
key in one table means supporting a new key is one edit here plus one fixture under
``tests/fixtures/otlp/``, and no convention name appears in the normalizer's code.

Lookup order for a span: the sources of the convention that recognised it, then the GenAI semconv
sources (every other convention also emits some ``gen_ai.*`` keys). Within a convention, current
names come first and deprecated ones after. A key that fills a column is removed from the span's
``attributes`` map; every key that no entry claims stays there, so nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from driftline.collector.schema import DEFAULT_COST_CURRENCY, INPUT_TOKENS_EXCLUDE_CACHE

ColumnType = Literal["str", "int", "float", "strlist"]

GENAI = "genai"
OPENINFERENCE = "openinference"
OPENLLMETRY = "openllmetry"
VERCEL_AI = "vercel_ai"
NONE = "none"


@dataclass(frozen=True)
class Source:
    """One attribute key that can fill a column.

    ``when`` restricts the source to spans where another attribute has one of the given values
    (e.g. ``traceloop.entity.name`` is a tool name only on ``traceloop.span.kind=tool`` spans).
    ``values`` maps source values onto canonical ones; with ``values_only`` an unmapped value is not
    taken. A ``*`` in the key matches one flattened index (``gen_ai.completion.*.finish_reason``) and
    collects every match into a list. ``before`` keeps the text before the first occurrence of that
    separator (``openai.chat`` -> ``openai``). ``not_values`` lists values the key carries that are not
    this column's (AutoGen puts its own name in ``gen_ai.system``, which is no model provider).
    """

    key: str
    when: tuple[str, frozenset[str]] | None = None
    values: Mapping[str, str] | None = None
    values_only: bool = False
    before: str | None = None
    not_values: frozenset[str] | None = None  # values that are not this column's (the key stays in attributes)


def S(key: str, **kw: object) -> Source:
    """Shorthand used only to keep the table below readable."""
    not_values = kw.pop("not_values", None)
    if not_values is not None:
        kw["not_values"] = frozenset(not_values)  # type: ignore[arg-type]
    when = kw.pop("when", None)
    if when is not None:
        attr, vals = when  # type: ignore[misc]
        kw["when"] = (attr, frozenset([vals] if isinstance(vals, str) else vals))
    return Source(key, **kw)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    sources: Mapping[str, tuple[Source, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Convention:
    """How a convention is recognised: any marker key present, or any key with a marker prefix."""

    name: str
    marker_keys: tuple[str, ...] = ()
    marker_prefixes: tuple[str, ...] = ()


# Checked in order; the first that matches names the span's convention ("none" if none does).
CONVENTIONS: tuple[Convention, ...] = (
    Convention(OPENINFERENCE, marker_keys=("openinference.span.kind",)),
    Convention(
        OPENLLMETRY,
        marker_keys=("traceloop.span.kind", "traceloop.entity.name", "traceloop.workflow.name", "llm.request.type"),
    ),
    Convention(VERCEL_AI, marker_keys=("ai.operationId", "ai.model.id", "ai.toolCall.name")),
    Convention(GENAI, marker_prefixes=("gen_ai.",)),
)

# --- value maps -----------------------------------------------------------------------------------

GENAI_OPERATIONS = {
    "chat": "chat",
    "generate_content": "chat",
    "text_completion": "text_completion",
    "completion": "text_completion",
    "embeddings": "embeddings",
    "embedding": "embeddings",
    "execute_tool": "execute_tool",
    "invoke_agent": "invoke_agent",
    "create_agent": "create_agent",
    "retrieval": "retrieval",
    "invoke_workflow": "workflow",
    "workflow": "workflow",
}
OPENINFERENCE_KINDS = {
    "LLM": "chat",
    "TOOL": "execute_tool",
    "AGENT": "invoke_agent",
    "CHAIN": "workflow",
    "RETRIEVER": "retrieval",
    "RERANKER": "retrieval",
    "EMBEDDING": "embeddings",
    "GUARDRAIL": "other",
    "EVALUATOR": "other",
    "PROMPT": "other",
    "UNKNOWN": "other",
}
# gen_ai.system values that name an agent framework, not a model provider (AutoGen 0.4+ sets its own)
FRAMEWORK_SYSTEMS = ("autogen",)
AG2_USAGE_KINDS = {"compaction": "chat", "aggregation": "chat", "subtask": "chat"}
TRACELOOP_KINDS = {"workflow": "workflow", "task": "workflow", "agent": "invoke_agent", "tool": "execute_tool"}
TRACELOOP_REQUEST_TYPES = {
    "chat": "chat",
    "completion": "text_completion",
    "embedding": "embeddings",
    "rerank": "retrieval",
}
VERCEL_OPERATIONS = {
    "ai.generateText": "workflow",
    "ai.streamText": "workflow",
    "ai.generateObject": "workflow",
    "ai.streamObject": "workflow",
    "ai.generateText.doGenerate": "chat",
    "ai.streamText.doStream": "chat",
    "ai.generateObject.doGenerate": "chat",
    "ai.streamObject.doStream": "chat",
    "ai.toolCall": "execute_tool",
    "ai.embed": "embeddings",
    "ai.embedMany": "embeddings",
    "ai.embed.doEmbed": "embeddings",
    "ai.embedMany.doEmbed": "embeddings",
}
OPERATIONS = (
    "chat",
    "text_completion",
    "embeddings",
    "execute_tool",
    "invoke_agent",
    "create_agent",
    "retrieval",
    "workflow",
    "other",
)

# --- the table ------------------------------------------------------------------------------------

COLUMNS: tuple[Column, ...] = (
    Column(
        "operation",
        "str",
        {
            GENAI: (
                S("gen_ai.operation.name", values=GENAI_OPERATIONS),
                # AG2 1.x's record_usage spans: spend no chat span records (history compaction, memory
                # aggregation, a sub-task's rollup) is a model call; "model_call" repeats a chat span
                S("ag2.usage.kind", values=AG2_USAGE_KINDS, values_only=True),
            ),
            OPENINFERENCE: (S("openinference.span.kind", values=OPENINFERENCE_KINDS),),
            OPENLLMETRY: (
                S("traceloop.span.kind", values=TRACELOOP_KINDS, values_only=True),
                S("llm.request.type", values=TRACELOOP_REQUEST_TYPES),
            ),
            VERCEL_AI: (S("ai.operationId", values=VERCEL_OPERATIONS),),
        },
    ),
    Column(
        "agent_name",
        "str",
        {
            GENAI: (S("gen_ai.agent.name"),),
            # CrewAI's agent spans (OpenInference) name the agent only as the graph node they are
            OPENINFERENCE: (S("agent.name"), S("graph.node.id", when=("openinference.span.kind", "AGENT"))),
            OPENLLMETRY: (S("traceloop.entity.name", when=("traceloop.span.kind", "agent")),),
        },
    ),
    Column("agent_id", "str", {GENAI: (S("gen_ai.agent.id"),)}),
    Column("agent_version", "str", {GENAI: (S("gen_ai.agent.version"), S("driftline.agent.version"))}),
    Column(
        "provider",
        "str",
        {
            GENAI: (S("gen_ai.provider.name"), S("gen_ai.system", not_values=FRAMEWORK_SYSTEMS)),
            OPENINFERENCE: (S("llm.provider"), S("llm.system")),
            VERCEL_AI: (S("ai.model.provider", before="."),),
        },
    ),
    Column(
        "request_model",
        "str",
        {
            GENAI: (S("gen_ai.request.model"),),
            OPENINFERENCE: (S("llm.model_name"), S("embedding.model_name")),
            OPENLLMETRY: (S("llm.request.model"),),
            VERCEL_AI: (S("ai.model.id"),),
        },
    ),
    Column(
        "response_model",
        "str",
        {
            GENAI: (S("gen_ai.response.model"),),
            OPENINFERENCE: (S("llm.model_name"),),  # OpenInference records the model the response names
            OPENLLMETRY: (S("llm.response.model"),),
            VERCEL_AI: (S("ai.response.model"),),
        },
    ),
    Column(
        "temperature",
        "float",
        {
            GENAI: (S("gen_ai.request.temperature"),),
            OPENLLMETRY: (S("llm.request.temperature"),),
            VERCEL_AI: (S("ai.settings.temperature"),),
        },
    ),
    Column(
        "max_tokens",
        "int",
        {
            GENAI: (S("gen_ai.request.max_tokens"),),
            OPENLLMETRY: (S("llm.request.max_tokens"),),
            VERCEL_AI: (S("ai.settings.maxOutputTokens"), S("ai.settings.maxTokens")),
        },
    ),
    Column(
        "input_tokens",
        "int",
        {
            GENAI: (S("gen_ai.usage.input_tokens"), S("gen_ai.usage.prompt_tokens")),
            OPENINFERENCE: (S("llm.token_count.prompt"),),
            OPENLLMETRY: (S("llm.usage.prompt_tokens"),),
            VERCEL_AI: (S("ai.usage.inputTokens"), S("ai.usage.promptTokens")),
        },
    ),
    Column(
        "output_tokens",
        "int",
        {
            GENAI: (S("gen_ai.usage.output_tokens"), S("gen_ai.usage.completion_tokens")),
            OPENINFERENCE: (S("llm.token_count.completion"),),
            OPENLLMETRY: (S("llm.usage.completion_tokens"),),
            VERCEL_AI: (S("ai.usage.outputTokens"), S("ai.usage.completionTokens")),
        },
    ),
    Column(
        "cache_read_tokens",
        "int",
        {
            GENAI: (
                S("gen_ai.usage.cache_read.input_tokens"),
                S("gen_ai.usage.cache_read_input_tokens"),
                S("gen_ai.usage.prompt_tokens_details.cached_tokens"),
                S("gen_ai.usage.input_tokens_details.cached_tokens"),
                S("gen_ai.usage.cached_input_tokens"),
            ),
            OPENINFERENCE: (S("llm.token_count.prompt_details.cache_read"),),
            VERCEL_AI: (S("ai.usage.cachedInputTokens"),),
        },
    ),
    Column(
        "cache_write_tokens",
        "int",
        {
            GENAI: (
                S("gen_ai.usage.cache_creation.input_tokens"),
                S("gen_ai.usage.cache_write.input_tokens"),
                S("gen_ai.usage.cache_creation_input_tokens"),
            ),
            OPENINFERENCE: (S("llm.token_count.prompt_details.cache_write"),),
        },
    ),
    Column(
        "reasoning_tokens",
        "int",
        {
            GENAI: (
                S("gen_ai.usage.reasoning.output_tokens"),
                S("gen_ai.usage.reasoning_tokens"),
                S("gen_ai.usage.completion_tokens_details.reasoning_tokens"),
                S("gen_ai.usage.output_tokens_details.reasoning_tokens"),
                S("gen_ai.usage.thinking_tokens"),  # AG2 1.x
            ),
            OPENINFERENCE: (S("llm.token_count.completion_details.reasoning"),),
            VERCEL_AI: (S("ai.usage.reasoningTokens"),),
        },
    ),
    Column(
        "finish_reasons",
        "strlist",
        {
            GENAI: (S("gen_ai.response.finish_reasons"),),
            OPENINFERENCE: (S("llm.finish_reason"),),
            OPENLLMETRY: (S("gen_ai.completion.*.finish_reason"),),
            VERCEL_AI: (S("ai.response.finishReason"),),
        },
    ),
    Column(
        "response_id",
        "str",
        {
            GENAI: (S("gen_ai.response.id"),),
            OPENLLMETRY: (S("gen_ai.response.id"),),
            VERCEL_AI: (S("ai.response.id"),),
        },
    ),
    Column(
        "cost_reported",
        "float",
        {
            GENAI: (S("gen_ai.usage.cost"), S("gen_ai.usage.cost.total"), S("gen_ai.cost.usd")),
            OPENINFERENCE: (S("llm.cost.total"),),
        },
    ),
    Column("cost_currency", "str", {GENAI: (S("gen_ai.usage.cost.currency"), S("gen_ai.usage.cost_currency"))}),
    Column(
        "tool_name",
        "str",
        {
            GENAI: (S("gen_ai.tool.name"),),
            OPENINFERENCE: (S("tool.name"),),
            OPENLLMETRY: (S("traceloop.entity.name", when=("traceloop.span.kind", "tool")),),
            VERCEL_AI: (S("ai.toolCall.name"),),
        },
    ),
    Column(
        "tool_call_id",
        "str",
        {
            GENAI: (S("gen_ai.tool.call.id"),),
            OPENINFERENCE: (S("tool_call.id"),),
            VERCEL_AI: (S("ai.toolCall.id"),),
        },
    ),
    Column("tool_type", "str", {GENAI: (S("gen_ai.tool.type"),)}),
    Column("error_type", "str", {GENAI: (S("error.type"),)}),
    Column(
        "conversation_id",
        "str",
        {
            GENAI: (S("gen_ai.conversation.id"), S("session.id")),
            OPENINFERENCE: (S("session.id"), S("crew_id")),  # a CrewAI crew's task runs share its crew id
            OPENLLMETRY: (S("traceloop.association.properties.session_id"),),
            VERCEL_AI: (S("ai.telemetry.metadata.sessionId"),),
        },
    ),
    Column(
        "user_id",
        "str",
        {
            GENAI: (S("user.id"), S("enduser.id")),
            OPENLLMETRY: (S("traceloop.association.properties.user_id"),),
            VERCEL_AI: (S("ai.telemetry.metadata.userId"),),
        },
    ),
    Column("outcome", "str", {GENAI: (S("driftline.outcome"),)}),
    # the tools a model call offered: Driftline's instrumentors list their names; GenAI semconv's
    # gen_ai.tool.definitions and OpenInference's llm.tools.<i>.tool.json_schema are JSON, read by
    # normalize/tools_offered.py when no list is given
    Column("tools_offered", "strlist", {GENAI: (S("driftline.request.tool_names"),)}),
    # set on every span of a sampled app by Driftline's setup(), whatever instrumentation made the span
    Column("sample_rate", "float", dict.fromkeys([c.name for c in CONVENTIONS], (S("driftline.sample_rate"),))),
)

# What Driftline's own instrumentation sends when content capture is off: hashes and lengths only.
COLUMNS += (
    Column("input_hash", "str", {GENAI: (S("driftline.input.hash"),)}),
    Column("input_chars", "int", {GENAI: (S("driftline.input.chars"),)}),
    Column("output_hash", "str", {GENAI: (S("driftline.output.hash"), S("driftline.tool.result.hash"))}),
    Column("output_chars", "int", {GENAI: (S("driftline.output.chars"),)}),
    Column("prompt_hash", "str", {GENAI: (S("driftline.prompt.hash"),)}),
    Column("tool_args_hash", "str", {GENAI: (S("driftline.tool.arguments.hash"),)}),
)

# A provider-reported cost without a currency is in US dollars (OpenInference documents llm.cost.* in
# USD; gen_ai.cost.usd says so in its name), and which conventions' input_tokens leave the cache out:
# both are facts about the stored columns, so they live in the schema, which the analysis reads too.
assert set(INPUT_TOKENS_EXCLUDE_CACHE) <= {GENAI, OPENINFERENCE, OPENLLMETRY, VERCEL_AI, NONE}
__all__ = ["DEFAULT_COST_CURRENCY", "INPUT_TOKENS_EXCLUDE_CACHE"]  # re-exported for the normalizer

# Columns that come from the resource, not the span: canonical column <- resource keys in order.
RESOURCE_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "service_name": ("service.name",),
    "service_version": ("service.version",),
    "environment": ("deployment.environment.name", "deployment.environment"),
}

# --- content --------------------------------------------------------------------------------------
# Message content, prompts and tool arguments are hashed and measured; they reach Parquet as text
# only with --store-content, after PII scrubbing. They never stay in the attributes map.
# Roles: "input", "output", "system" (feeds prompt_hash), "tool_args" (feeds tool_args_hash).

CONTENT_KEYS: Mapping[str, str] = {
    "gen_ai.input.messages": "input",
    "gen_ai.output.messages": "output",
    "gen_ai.system_instructions": "system",
    "gen_ai.prompt": "input",
    "gen_ai.completion": "output",
    "gen_ai.tool.call.arguments": "tool_args",
    "gen_ai.tool.call.result": "output",
    "input.value": "input",
    "output.value": "output",
    "llm.prompt_template.template": "system",
    "llm.prompt_template.variables": "input",
    "traceloop.entity.input": "input",
    "traceloop.entity.output": "output",
    "traceloop.prompt.template": "system",
    "ai.prompt": "input",
    "ai.prompt.messages": "input",
    "ai.response.text": "output",
    "ai.response.object": "output",
    "ai.response.toolCalls": "output",
    "ai.toolCall.args": "tool_args",
    "ai.toolCall.result": "output",
    "ai.value": "input",
    "ai.values": "input",
    "ai.embedding": "output",
    "ai.embeddings": "output",
    # frameworks' own keys that quote the user's task or the agents' prompts (OpenInference's smolagents and
    # CrewAI instrumentors): content, hashed, never left in attributes
    "smolagents.task": "input",
    "smolagents.additional_args": "input",
    "crew_inputs": "input",
    "crew_tasks": "input",
    "crew_agents": "system",
    "formatted_description": "input",
    "formatted_expected_output": "input",
    "flow_inputs": "input",
    # the agent-semantics API's final answer, sent as text only with content capture
    "driftline.final_answer.text": "output",
}

# Flattened message lists: a key under one of these prefixes whose last dotted part is a content
# part (``llm.input_messages.0.message.content``) is content; its siblings (role, name, finish
# reason, tool-call function names) are structure and stay in ``attributes``.
CONTENT_PREFIXES: tuple[tuple[str, str], ...] = (
    ("llm.input_messages.", "input"),
    ("llm.output_messages.", "output"),
    ("gen_ai.prompt.", "input"),
    ("gen_ai.completion.", "output"),
    ("embedding.embeddings.", "output"),
    ("retrieval.documents.", "output"),
    ("reranker.input_documents.", "input"),
    ("reranker.output_documents.", "output"),
)
CONTENT_LEAVES = frozenset({"content", "text", "arguments", "value", "image_url", "url", "vector"})

# Span event attributes that carry content in older GenAI semconv (gen_ai.content.prompt events...).
EXCEPTION_EVENT = "exception"
EXCEPTION_TYPE_KEY = "exception.type"
# Exception event attributes that quote what the app was handling (a card number in a ValueError):
# content, stored only with --store-content and after PII scrubbing, like the span's status message.
EXCEPTION_CONTENT_KEYS = frozenset({"exception.message", "exception.stacktrace"})

# Where to find the agent version when a span carries none: service.version (design §2).
AGENT_VERSION_FALLBACK = "service_version"

# --- spans whose name says more than their kind ---------------------------------------------------
# (convention, end of the span name) -> operation. OpenInference's LlamaIndex instrumentor marks the
# step that formats tools for a model as an LLM span although it calls no model (counting it would
# add a call without tokens to every step); agent loops that OpenInference records as CHAIN spans
# (a LlamaIndex agent workflow's run, DSPy's ReAct) are agent runs.
NAMED_OPERATIONS: tuple[tuple[str, str, str], ...] = (
    (OPENINFERENCE, "._prepare_chat_with_tools", "other"),
    (OPENINFERENCE, "Agent.run", "invoke_agent"),
    (OPENINFERENCE, "AgentWorkflow.run", "invoke_agent"),
    (OPENINFERENCE, "ReAct.forward", "invoke_agent"),
    (OPENINFERENCE, "ReAct.aforward", "invoke_agent"),
    (OPENINFERENCE, "CodeAct.forward", "invoke_agent"),
)
# OpenInference agent and tool spans that name their agent or tool only in the span name
# (``order_agent.run`` from smolagents, ``FunctionAgent.run`` from LlamaIndex, ``ReAct.forward`` and
# ``lookup_order.__call__`` from DSPy): the name before the method is the agent's or the tool's.
AGENT_METHODS = (".run", ".forward", ".aforward")
TOOL_METHODS = (".__call__", ".acall")


def named_operation(convention: str, name: str, operation: str) -> tuple[str, str | None]:
    """The operation a span's name gives it, and the agent or tool name the name implies (or None)."""
    for conv, suffix, named in NAMED_OPERATIONS:
        if conv == convention and name.endswith(suffix):
            operation = named
            break
    methods = AGENT_METHODS if operation == "invoke_agent" else TOOL_METHODS if operation == "execute_tool" else ()
    for method in methods:
        if name.endswith(method) and len(name) > len(method):
            return operation, name[: -len(method)]
    return operation, None
