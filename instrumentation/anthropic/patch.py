"""Wrapper factories for the Anthropic SDK: map ``messages.create`` requests and responses.

Why a stand-aside rule: one span per call, whoever makes it (see ``native_tracing``).

Why input tokens are summed: Anthropic reports cache reads and cache writes apart from
``input_tokens``, while OpenAI's prompt tokens include cached ones. Driftline records
``gen_ai.usage.input_tokens`` as all input tokens (uncached + cache read + cache write), as the GenAI
conventions ask, and the cache parts separately, so versions on different providers compare alike.
"""

from __future__ import annotations

from typing import Any

from driftline.instrumentation._invocation import GenAITelemetry, Invocation, message_list
from driftline.instrumentation._wrappers import REQUEST_TOOL_NAMES, given, server_attributes, wrapper_factory

PROVIDER = "anthropic"


def native_tracing(instance: Any) -> bool:
    """Newer SDKs trace each call themselves (``ANTHROPIC_OPEN_TELEMETRY``, on by default). Then
    Driftline makes no second span: the collector maps the SDK's own. Turn the SDK's off
    (``ANTHROPIC_OPEN_TELEMETRY=false`` or ``open_telemetry=False``) to get Driftline's span, which
    also carries input tokens, tool names and content hashes."""
    options = getattr(getattr(instance, "_client", None), "open_telemetry", None)
    try:
        return bool(options["traces"]["enabled"])
    except (TypeError, KeyError):
        return False


def _start(telemetry: GenAITelemetry, instance: Any, kwargs: dict[str, Any]) -> Invocation:
    attrs = server_attributes(instance)
    attrs["gen_ai.request.temperature"] = given(kwargs, "temperature")
    attrs["gen_ai.request.max_tokens"] = given(kwargs, "max_tokens")
    attrs["gen_ai.request.top_p"] = given(kwargs, "top_p")
    attrs["gen_ai.request.top_k"] = given(kwargs, "top_k")
    tools = given(kwargs, "tools") or ()
    attrs[REQUEST_TOOL_NAMES] = [t["name"] for t in tools if isinstance(t, dict) and t.get("name")] or None
    inv = telemetry.start("chat", provider=PROVIDER, request_model=given(kwargs, "model"), attributes=attrs)
    inv.input_messages = message_list(given(kwargs, "messages"))
    inv.system_instructions = given(kwargs, "system")
    return inv


def _usage(inv: Invocation, usage: Any) -> None:
    if usage is None:
        return
    uncached = getattr(usage, "input_tokens", None)
    read = getattr(usage, "cache_read_input_tokens", None)
    write = getattr(usage, "cache_creation_input_tokens", None)
    if uncached is not None:
        inv.input_tokens = uncached + (read or 0) + (write or 0)
    inv.cache_read_tokens = read if read is not None else inv.cache_read_tokens
    inv.cache_write_tokens = write if write is not None else inv.cache_write_tokens
    output = getattr(usage, "output_tokens", None)
    if output is not None:
        inv.output_tokens = output


def _finish(inv: Invocation, result: Any) -> None:
    inv.response_model = getattr(result, "model", None)
    inv.response_id = getattr(result, "id", None)
    if getattr(result, "stop_reason", None):
        inv.finish_reasons.append(result.stop_reason)
    for block in getattr(result, "content", None) or ():
        if getattr(block, "type", None) == "tool_use":
            inv.tool_names.append(block.name)
    content = getattr(result, "content", None)
    if content:
        inv.output_messages = [{"role": "assistant", "content": message_list(content)}]
    _usage(inv, getattr(result, "usage", None))


class _Events:
    """What a stream of raw message events adds up to."""

    def __init__(self) -> None:
        self.text: list[str] = []

    def add(self, inv: Invocation, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind == "message_start":
            message = event.message
            inv.response_model, inv.response_id = message.model, message.id
            _usage(inv, message.usage)
        elif kind == "content_block_start" and getattr(event.content_block, "type", None) == "tool_use":
            inv.tool_names.append(event.content_block.name)
        elif kind == "content_block_delta" and getattr(event.delta, "type", None) == "text_delta":
            self.text.append(event.delta.text)
        elif kind == "message_delta":
            if event.delta.stop_reason:
                inv.finish_reasons.append(event.delta.stop_reason)
            output = getattr(event.usage, "output_tokens", None)
            if output is not None:
                inv.output_tokens = output

    def end(self, inv: Invocation) -> None:
        if self.text or inv.tool_names:
            inv.output_messages = [
                {"role": "assistant", "content": "".join(self.text), "tool_calls": list(inv.tool_names)}
            ]


def messages(is_async: bool) -> Any:
    return wrapper_factory(_start, _finish, _Events, is_async, stand_aside=native_tracing)
