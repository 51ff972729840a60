"""Wrapper factories for the OpenAI SDK: map each request and response onto an ``Invocation``.

Why factories: the instrumentor builds one ``GenAITelemetry`` and hands it to every factory, so all
wrappers share the tracer and the content settings decided at instrument time. A failure inside
telemetry code is swallowed (the call goes on untraced or partly traced); a failure of the call
itself is recorded and re-raised unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from driftline.instrumentation._invocation import GenAITelemetry, Invocation, message_list
from driftline.instrumentation._wrappers import (
    REQUEST_TOOL_NAMES,
    given,
    request_attributes,
    server_attributes,
    wrapper_factory,
)
from driftline.instrumentation.settings import ContentMode

log = logging.getLogger(__name__)

PROVIDER = "openai"


def _usage(inv: Invocation, usage: Any, chat_api: bool) -> None:
    """Chat Completions and Responses name their usage fields differently; read only the real ones
    (a missing attribute on a pydantic model is slow to ask for)."""
    if usage is None:
        return
    if chat_api:
        inv.input_tokens, inv.output_tokens = usage.prompt_tokens, usage.completion_tokens
        in_details, out_details = usage.prompt_tokens_details, usage.completion_tokens_details
    else:
        inv.input_tokens, inv.output_tokens = usage.input_tokens, usage.output_tokens
        in_details, out_details = usage.input_tokens_details, usage.output_tokens_details
    if in_details is not None:
        inv.cache_read_tokens = in_details.cached_tokens
    if out_details is not None:
        inv.reasoning_tokens = out_details.reasoning_tokens


def _tool_names(tools: Any) -> list[str] | None:
    names = []
    for t in tools or ():
        fn = t.get("function") if isinstance(t, dict) else getattr(t, "function", None)
        name = (fn or {}).get("name") if isinstance(fn, dict) else getattr(fn, "name", None)
        name = name or (t.get("name") if isinstance(t, dict) else None)
        if name:
            names.append(name)
    return names or None


# --- chat.completions.create ------------------------------------------------------------------------


_CHAT_PARAMS = (
    ("temperature", "gen_ai.request.temperature"),
    ("max_completion_tokens", "gen_ai.request.max_tokens"),
    ("max_tokens", "gen_ai.request.max_tokens"),
    ("top_p", "gen_ai.request.top_p"),
    ("seed", "gen_ai.request.seed"),
)
_SYSTEM_ROLES = ("system", "developer")


def _start_chat(telemetry: GenAITelemetry, instance: Any, kwargs: dict[str, Any]) -> Invocation:
    attrs = server_attributes(instance)
    attrs.update(request_attributes(kwargs, _CHAT_PARAMS))
    tools = _tool_names(given(kwargs, "tools"))
    if tools:
        attrs[REQUEST_TOOL_NAMES] = tools
    inv = telemetry.start("chat", provider=PROVIDER, request_model=given(kwargs, "model"), attributes=attrs)
    messages = given(kwargs, "messages") or ()
    system, rest = [], []
    for m in messages:
        role = m.get("role") if isinstance(m, dict) else getattr(m, "role", None)
        if role in _SYSTEM_ROLES:
            system.append(m.get("content") if isinstance(m, dict) else getattr(m, "content", None))
        else:
            rest.append(m)
    inv.system_instructions = system or None
    inv.input_messages = message_list(rest)
    return inv


def _finish_chat(inv: Invocation, result: Any) -> None:
    inv.response_model = getattr(result, "model", None)
    inv.response_id = getattr(result, "id", None)
    capture = inv.telemetry.settings.content is not ContentMode.NO_CONTENT
    outputs = []
    for choice in getattr(result, "choices", None) or ():
        if choice.finish_reason:
            inv.finish_reasons.append(choice.finish_reason)
        message = choice.message
        calls = message.tool_calls or ()
        for call in calls:
            name = getattr(getattr(call, "function", None), "name", None)
            if name:
                inv.tool_names.append(name)
        if capture:
            outputs.append(message.model_dump(exclude_none=True))
        else:  # enough for a hash and a length, without pydantic's serializer
            out: dict[str, Any] = {"role": "assistant", "content": message.content}
            if calls:
                out["tool_calls"] = [[c.function.name, c.function.arguments] for c in calls if hasattr(c, "function")]
            outputs.append(out)
    inv.output_messages = outputs or None
    _usage(inv, getattr(result, "usage", None), chat_api=True)


class _ChatChunks:
    """What a stream of chat.completion.chunk objects adds up to."""

    def __init__(self) -> None:
        self.text: dict[int, list[str]] = {}
        self.tools: dict[int, list[str]] = {}

    def add(self, inv: Invocation, chunk: Any) -> None:
        inv.response_model = inv.response_model or getattr(chunk, "model", None)
        inv.response_id = inv.response_id or getattr(chunk, "id", None)
        for choice in getattr(chunk, "choices", None) or ():
            delta = choice.delta
            if delta is not None and delta.content:
                self.text.setdefault(choice.index, []).append(delta.content)
            for call in getattr(delta, "tool_calls", None) or ():
                name = getattr(getattr(call, "function", None), "name", None)
                if name:
                    self.tools.setdefault(choice.index, []).append(name)
            if choice.finish_reason:
                inv.finish_reasons.append(choice.finish_reason)
        if getattr(chunk, "usage", None) is not None:
            _usage(inv, chunk.usage, chat_api=True)

    def end(self, inv: Invocation) -> None:
        outputs = []
        for index in sorted(set(self.text) | set(self.tools)):
            message: dict[str, Any] = {"role": "assistant", "content": "".join(self.text.get(index, []))}
            if self.tools.get(index):
                message["tool_calls"] = [{"function": {"name": n}} for n in self.tools[index]]
                inv.tool_names.extend(self.tools[index])
            outputs.append(message)
        inv.output_messages = outputs or None


# --- embeddings.create -------------------------------------------------------------------------------


def _start_embeddings(telemetry: GenAITelemetry, instance: Any, kwargs: dict[str, Any]) -> Invocation:
    inv = telemetry.start(
        "embeddings", provider=PROVIDER, request_model=given(kwargs, "model"), attributes=server_attributes(instance)
    )
    inv.input_messages = given(kwargs, "input")
    return inv


def _finish_embeddings(inv: Invocation, result: Any) -> None:
    inv.response_model = getattr(result, "model", None)
    data = getattr(result, "data", None) or ()
    if data and getattr(data[0], "embedding", None) is not None:
        inv.attributes["gen_ai.embeddings.dimension.count"] = len(data[0].embedding)
    usage = getattr(result, "usage", None)
    inv.input_tokens = getattr(usage, "prompt_tokens", None)


# --- responses.create --------------------------------------------------------------------------------


def _start_responses(telemetry: GenAITelemetry, instance: Any, kwargs: dict[str, Any]) -> Invocation:
    attrs = server_attributes(instance)
    attrs["gen_ai.request.temperature"] = given(kwargs, "temperature")
    attrs["gen_ai.request.max_tokens"] = given(kwargs, "max_output_tokens")
    attrs["gen_ai.request.top_p"] = given(kwargs, "top_p")
    attrs[REQUEST_TOOL_NAMES] = _tool_names(given(kwargs, "tools"))
    inv = telemetry.start("chat", provider=PROVIDER, request_model=given(kwargs, "model"), attributes=attrs)
    inv.input_messages = given(kwargs, "input")
    inv.system_instructions = given(kwargs, "instructions")
    return inv


def _finish_responses(inv: Invocation, result: Any) -> None:
    inv.response_model = getattr(result, "model", None)
    inv.response_id = getattr(result, "id", None)
    status = getattr(result, "status", None)
    if status:
        inv.finish_reasons.append(status)
    outputs = []
    for item in getattr(result, "output", None) or ():
        if getattr(item, "type", None) == "function_call" and getattr(item, "name", None):
            inv.tool_names.append(item.name)
        outputs.append(item.model_dump(exclude_none=True) if hasattr(item, "model_dump") else item)
    inv.output_messages = outputs or None
    _usage(inv, getattr(result, "usage", None), chat_api=False)


class _ResponseEvents:
    def add(self, inv: Invocation, event: Any) -> None:
        if getattr(event, "type", None) in ("response.completed", "response.incomplete", "response.failed"):
            _finish_responses(inv, event.response)

    def end(self, inv: Invocation) -> None:
        pass


def chat(is_async: bool) -> Callable[[GenAITelemetry], Any]:
    return wrapper_factory(_start_chat, _finish_chat, _ChatChunks, is_async)


def embeddings(is_async: bool) -> Callable[[GenAITelemetry], Any]:
    return wrapper_factory(_start_embeddings, _finish_embeddings, None, is_async)


def responses(is_async: bool) -> Callable[[GenAITelemetry], Any]:
    return wrapper_factory(_start_responses, _finish_responses, _ResponseEvents, is_async)
