"""LangChain callbacks -> properly nested GenAI spans (agent runs, chat-model calls, tool calls).

Why these spans and no others: a LangChain run fires callbacks for every runnable (prompt templates,
parsers, each graph node); drift analysis needs the agent run, each model call and each tool call.
So the outermost chain or graph becomes the ``invoke_agent`` span, chat models and tools become
``chat`` and ``execute_tool`` spans under the nearest traced ancestor, and every other run is only
remembered for its place in the tree. A model call whose provider SDK a Driftline instrumentor
already traces gets no second span here.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from langchain_core.callbacks.base import BaseCallbackHandler
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from driftline.instrumentation import _invocation as inv
from driftline.instrumentation import semantics as sem
from driftline.instrumentation._invocation import ACTIVE_PROVIDERS, GenAITelemetry, Invocation

AGENT_NAME_KEY, AGENT_VERSION_KEY = "driftline.agent.name", "driftline.agent.version"
_SIGNALLED = "_driftline_signalled"


def _is_parser_error(error: BaseException) -> bool:
    """langchain_core's OutputParserException (by name: no import of the library at module load)."""
    return any(c.__name__ == "OutputParserException" for c in type(error).__mro__)


@dataclass
class _Run:
    parent: UUID | None
    span: Span | None = None
    invocation: Invocation | None = None


def _name(serialized: dict[str, Any] | None, kwargs: dict[str, Any], default: str) -> str:
    if kwargs.get("name"):
        return str(kwargs["name"])
    if serialized:
        if serialized.get("name"):
            return str(serialized["name"])
        if serialized.get("id"):
            return str(serialized["id"][-1])
    return default


def _message(m: Any) -> Any:
    return {"role": getattr(m, "type", None), "content": getattr(m, "content", m)}


class DriftlineCallbackHandler(BaseCallbackHandler):
    raise_error = False
    run_inline = True  # open and close spans in the caller's order, also for async runs

    def __init__(self, telemetry: GenAITelemetry) -> None:
        super().__init__()
        self.telemetry = telemetry
        self._runs: dict[UUID, _Run] = {}
        self._lock = threading.Lock()

    # --- the tree ---------------------------------------------------------------------------------

    def _parent_context(self, parent: UUID | None) -> Any:
        """The context of the nearest ancestor with a span; None (the current context) at the top."""
        with self._lock:
            while parent is not None:
                run = self._runs.get(parent)
                if run is None:
                    break
                if run.span is not None:
                    return trace.set_span_in_context(run.span)
                parent = run.parent
        return None

    def _remember(self, run_id: UUID, parent: UUID | None, **kw: Any) -> _Run:
        run = _Run(parent, **kw)
        with self._lock:
            self._runs[run_id] = run
        return run

    def _forget(self, run_id: UUID) -> _Run | None:
        with self._lock:
            return self._runs.pop(run_id, None)

    def _end(self, run_id: UUID, error: BaseException | None = None) -> None:
        run = self._forget(run_id)
        if run is None:
            return
        if run.invocation is not None:
            run.invocation.fail(error) if error is not None else run.invocation.stop()
        elif run.span is not None:
            if error is not None:
                run.span.set_attribute("error.type", type(error).__qualname__)
                run.span.set_status(Status(StatusCode.ERROR, str(error)[:500]))
                run.span.record_exception(error)
            run.span.end()

    # --- chains and graphs ---------------------------------------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        with self._lock:
            top = parent_run_id is None or parent_run_id not in self._runs
        if not top:
            self._remember(run_id, parent_run_id)
            return
        metadata = metadata or {}
        name = str(metadata.get(AGENT_NAME_KEY) or _name(serialized, kwargs, "chain"))
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": name,
            "gen_ai.agent.id": name,
        }
        if metadata.get(AGENT_VERSION_KEY):
            attrs["gen_ai.agent.version"] = str(metadata[AGENT_VERSION_KEY])
        if metadata.get("thread_id"):
            attrs["gen_ai.conversation.id"] = str(metadata["thread_id"])
        span = self.telemetry.tracer.start_span(
            f"invoke_agent {name}",
            kind=SpanKind.INTERNAL,
            attributes=attrs,
            context=self._parent_context(parent_run_id),
        )
        self._remember(run_id, parent_run_id, span=span)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        if _is_parser_error(error) and not getattr(error, _SIGNALLED, False):
            # an output parser refused the model's output: a schema_invalid quality signal, once per error
            # (it propagates through every enclosing chain)
            ctx = self._parent_context(run_id)
            span = trace.get_current_span(ctx) if ctx is not None else None
            if span is not None and span.is_recording():
                sem.signal(span, "output", "schema_invalid", True)
                with contextlib.suppress(AttributeError):
                    setattr(error, _SIGNALLED, True)
        self._end(run_id, error)

    def on_agent_action(self, action: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        ctx = self._parent_context(run_id) or self._parent_context(parent_run_id)
        span = trace.get_current_span(ctx) if ctx is not None else None
        if span is not None and span.is_recording():
            span.add_event("gen_ai.agent.action", {"gen_ai.tool.name": str(getattr(action, "tool", ""))})

    # --- models --------------------------------------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start_model(
            serialized,
            [[_message(m) for m in batch] for batch in messages],
            run_id,
            parent_run_id,
            metadata or {},
            kwargs,
        )

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start_model(serialized, prompts, run_id, parent_run_id, metadata or {}, kwargs, "text_completion")

    def _start_model(
        self,
        serialized: dict[str, Any] | None,
        messages: Any,
        run_id: UUID,
        parent: UUID | None,
        metadata: dict[str, Any],
        kwargs: dict[str, Any],
        operation: str = "chat",
    ) -> None:
        provider = metadata.get("ls_provider")
        if provider in ACTIVE_PROVIDERS:  # the SDK-level instrumentor makes this call's span
            self._remember(run_id, parent)
            return
        params = kwargs.get("invocation_params") or {}
        model = params.get("model") or params.get("model_name") or metadata.get("ls_model_name")
        attrs = {
            "gen_ai.request.temperature": metadata.get("ls_temperature", params.get("temperature")),
            "gen_ai.request.max_tokens": metadata.get("ls_max_tokens", params.get("max_tokens")),
        }
        tools = params.get("tools") or ()
        names = [t.get("function", {}).get("name") or t.get("name") for t in tools if isinstance(t, dict)]
        if any(names):
            attrs[inv.REQUEST_TOOL_NAMES] = [n for n in names if n]
        invocation = self.telemetry.start(
            operation, provider=provider, request_model=model, attributes=attrs, context=self._parent_context(parent)
        )
        batch = messages[0] if messages and isinstance(messages[0], list) else messages
        system = [m["content"] for m in batch if isinstance(m, dict) and m.get("role") == "system"]
        invocation.system_instructions = system or None
        invocation.input_messages = [m for m in batch if not (isinstance(m, dict) and m.get("role") == "system")]
        self._remember(run_id, parent, invocation=invocation, span=invocation.span)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            run = self._runs.get(run_id)
        if run is not None and run.invocation is not None:
            self._read_result(run.invocation, response)
        self._end(run_id)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, error)

    @staticmethod
    def _read_result(invocation: Invocation, response: Any) -> None:
        outputs = []
        for generations in getattr(response, "generations", None) or ():
            for gen in generations:
                message = getattr(gen, "message", None)
                if message is None:
                    outputs.append({"role": "assistant", "content": getattr(gen, "text", "")})
                    continue
                meta = getattr(message, "response_metadata", None) or {}
                invocation.response_model = invocation.response_model or meta.get("model_name") or meta.get("model")
                invocation.response_id = invocation.response_id or meta.get("id") or getattr(message, "id", None)
                reason = meta.get("finish_reason") or meta.get("stop_reason")
                if reason:
                    invocation.finish_reasons.append(str(reason))
                for call in getattr(message, "tool_calls", None) or ():
                    invocation.tool_names.append(call["name"])
                usage = getattr(message, "usage_metadata", None) or {}
                if usage:
                    invocation.input_tokens = usage.get("input_tokens")
                    invocation.output_tokens = usage.get("output_tokens")
                    invocation.cache_read_tokens = (usage.get("input_token_details") or {}).get("cache_read")
                    invocation.reasoning_tokens = (usage.get("output_token_details") or {}).get("reasoning")
                outputs.append({"role": "assistant", "content": message.content})
        invocation.output_messages = outputs or None

    # --- tools ---------------------------------------------------------------------------------------

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        name = _name(serialized, kwargs, "tool")
        arguments = inputs if inputs is not None else input_str
        digest, _ = inv.content_hash(arguments)
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.type": "function",
            inv.TOOL_ARGS_HASH: digest,
        }
        if kwargs.get("tool_call_id"):
            attrs["gen_ai.tool.call.id"] = str(kwargs["tool_call_id"])
        if self.telemetry.settings.content.on_spans:
            attrs["gen_ai.tool.call.arguments"] = self.telemetry.text(arguments)
        span = self.telemetry.tracer.start_span(
            f"execute_tool {name}",
            kind=SpanKind.INTERNAL,
            attributes=attrs,
            context=self._parent_context(parent_run_id),
        )
        self._remember(run_id, parent_run_id, span=span)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            run = self._runs.get(run_id)
        if run is not None and run.span is not None:
            result = getattr(output, "content", output)
            call_id = getattr(output, "tool_call_id", None)
            if call_id:
                run.span.set_attribute("gen_ai.tool.call.id", str(call_id))
            run.span.set_attribute(inv.TOOL_RESULT_HASH, inv.content_hash(result)[0])
            if self.telemetry.settings.content.on_spans:
                run.span.set_attribute("gen_ai.tool.call.result", self.telemetry.text(result))
        self._end(run_id)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            run = self._runs.get(run_id)
        if run is not None and run.span is not None and run.span.is_recording():
            # a tool failure by taxonomy: its code is the exception's type; the message is hashed
            sem.failure(run.span, "tool", type(error).__name__, str(error), run.span)
        self._end(run_id, error)
