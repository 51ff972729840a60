"""The start -> stop/fail lifecycle every instrumented GenAI call goes through.

Why one layer: span names, ``gen_ai.*`` attribute keys, error handling and the content gate are
decided here and nowhere else, so the OpenAI, Anthropic and LangChain wrappers only map their SDK's
request and response onto an ``Invocation``'s fields. Content (messages, tool arguments) goes on the
span or into a log-record event only when the settings say so; otherwise only its SHA-256 and length
leave the process, which is what drift analysis needs.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from driftline.instrumentation import settings as settings_mod
from driftline.instrumentation.scrub import scrub

SCOPE = "driftline.instrumentation"

# Providers whose SDK calls a Driftline instrumentor already turns into spans (the LangChain handler
# then makes no second span for the same model call).
ACTIVE_PROVIDERS: set[str] = set()
EVENT_NAME = "gen_ai.client.inference.operation.details"

# Keys Driftline adds where the GenAI conventions have none; the collector maps them to columns.
INPUT_HASH, INPUT_CHARS = "driftline.input.hash", "driftline.input.chars"
OUTPUT_HASH, OUTPUT_CHARS = "driftline.output.hash", "driftline.output.chars"
PROMPT_HASH = "driftline.prompt.hash"
TOOL_ARGS_HASH, TOOL_RESULT_HASH = "driftline.tool.arguments.hash", "driftline.tool.result.hash"
TOOL_NAMES = "driftline.response.tool_names"
REQUEST_TOOL_NAMES = "driftline.request.tool_names"  # the tools a model call offered
TOOL_ATTEMPT = "driftline.tool.attempt"
OUTCOME = "driftline.outcome"


def canonical_json(value: Any) -> str:
    """Equal content, equal text: sorted keys, no spaces; JSON strings are parsed and re-dumped."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_hash(value: Any) -> tuple[str, int]:
    """Hash of canonical JSON: for tool arguments, where equal meaning must hash equal."""
    text = canonical_json(value)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(), len(text)


def as_json_text(value: Any) -> str:
    """The text a content attribute carries: strings as they are, anything else compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def text_hash(text: str) -> str:
    """SHA-256 of exactly the text that would be on the span, so the collector computes the same hash
    from ``gen_ai.*.messages`` when content is captured and from nothing when it is not."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


_SYSTEM: dict[Any, tuple[str, str]] = {}


def _system_text(value: Any) -> tuple[str, str]:
    """(text, hash) of system instructions. They repeat on every call, so each distinct one made of
    strings is serialized and hashed once (bounded cache)."""
    key = value if isinstance(value, str) else tuple(value) if isinstance(value, list) else None
    if key is not None:
        try:
            found = _SYSTEM.get(key)
        except TypeError:  # unhashable parts (content blocks): no caching
            found, key = None, None
        if found is not None:
            return found
    text = as_json_text(value)
    found = (text, text_hash(text))
    if key is not None:
        if len(_SYSTEM) > 1024:
            _SYSTEM.clear()
        _SYSTEM[key] = found
    return found


class GenAITelemetry:
    """Built once per instrumentor: the tracer, the content settings and (for events) a logger."""

    def __init__(
        self,
        tracer_provider: Any = None,
        logger_provider: Any = None,
        settings: settings_mod.Settings | None = None,
        version: str = "0.1.0",
    ) -> None:
        self.tracer = trace.get_tracer(SCOPE, version, tracer_provider=tracer_provider)
        self.settings = settings or settings_mod.load()
        self._logger_provider = logger_provider
        self._logger: Any = None

    def start(
        self,
        operation: str,
        *,
        provider: str | None = None,
        request_model: str | None = None,
        name: str | None = None,
        kind: SpanKind = SpanKind.CLIENT,
        attributes: Mapping[str, Any] | None = None,
        context: Any = None,
    ) -> Invocation:
        """Start a span (a child of ``context`` if given, else of the current span)."""
        attrs: dict[str, Any] = {"gen_ai.operation.name": operation}
        if provider:
            attrs["gen_ai.provider.name"] = provider
        if request_model:
            attrs["gen_ai.request.model"] = request_model
        if attributes:
            attrs.update((k, v) for k, v in attributes.items() if v is not None)
        span_name = name or (f"{operation} {request_model}" if request_model else operation)
        span = self.tracer.start_span(span_name, kind=kind, attributes=attrs, context=context)
        return Invocation(self, span, operation)

    def text(self, value: Any) -> str:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        return scrub(text) if self.settings.scrub_pii else text

    def emit_event(self, span: Span, attributes: dict[str, Any]) -> None:
        if self._logger is None:
            from opentelemetry._logs import get_logger

            self._logger = get_logger(SCOPE, logger_provider=self._logger_provider)
        from opentelemetry._logs import LogRecord

        ctx = span.get_span_context()
        self._logger.emit(
            LogRecord(
                timestamp=time.time_ns(),
                trace_id=ctx.trace_id,
                span_id=ctx.span_id,
                trace_flags=ctx.trace_flags,
                attributes=attributes,
                event_name=EVENT_NAME,
            )
        )


class Invocation:
    """One GenAI operation in flight. Wrappers fill the fields, then call ``stop()`` or ``fail()``.

    A slotted class rather than a dataclass: one is built per instrumented call, on the app's thread.
    """

    __slots__ = (
        "_ended",
        "attributes",
        "cache_read_tokens",
        "cache_write_tokens",
        "finish_reasons",
        "input_messages",
        "input_tokens",
        "operation",
        "output_messages",
        "output_tokens",
        "reasoning_tokens",
        "response_id",
        "response_model",
        "span",
        "system_instructions",
        "telemetry",
        "tool_names",
    )

    def __init__(self, telemetry: GenAITelemetry, span: Span, operation: str) -> None:
        self.telemetry = telemetry
        self.span = span
        self.operation = operation
        self.response_model: str | None = None
        self.response_id: str | None = None
        self.finish_reasons: list[str] = []
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.cache_read_tokens: int | None = None
        self.cache_write_tokens: int | None = None
        self.reasoning_tokens: int | None = None
        self.tool_names: list[str] = []
        self.input_messages: Any = None
        self.output_messages: Any = None
        self.system_instructions: Any = None
        self.attributes: dict[str, Any] = {}
        self._ended = False

    def stop(self) -> None:
        if self._ended:
            return
        self._ended = True
        span = self.span
        if span.is_recording():
            self._apply(span)
        span.end()

    def fail(self, error: BaseException) -> None:
        """Record the error (``error.type`` is the exception's class) and end the span."""
        if self._ended:
            return
        span = self.span
        if span.is_recording():
            span.set_attribute("error.type", type(error).__qualname__)
            span.set_status(Status(StatusCode.ERROR, str(error)[:500]))
            span.record_exception(error)
            self._apply(span)
        self._ended = True
        span.end()

    def _apply(self, span: Span) -> None:
        attrs: dict[str, Any] = self.attributes  # the invocation ends here: no copy needed
        if self.response_model is not None:
            attrs["gen_ai.response.model"] = self.response_model
        if self.response_id is not None:
            attrs["gen_ai.response.id"] = self.response_id
        if self.input_tokens is not None:
            attrs["gen_ai.usage.input_tokens"] = self.input_tokens
        if self.output_tokens is not None:
            attrs["gen_ai.usage.output_tokens"] = self.output_tokens
        if self.cache_read_tokens is not None:
            attrs["gen_ai.usage.cache_read.input_tokens"] = self.cache_read_tokens
        if self.cache_write_tokens is not None:
            attrs["gen_ai.usage.cache_creation.input_tokens"] = self.cache_write_tokens
        if self.reasoning_tokens is not None:
            attrs["gen_ai.usage.reasoning.output_tokens"] = self.reasoning_tokens
        if self.finish_reasons:
            attrs["gen_ai.response.finish_reasons"] = self.finish_reasons
        if self.tool_names:
            attrs[TOOL_NAMES] = self.tool_names
            self._tool_selection(span)
        self._content(attrs)
        span.set_attributes(attrs)

    def _tool_selection(self, span: Span) -> None:
        """With several tools offered, the tool the model picked is a decision (agent semantics)."""
        from driftline.instrumentation import semantics  # semantics imports this module

        offered = (getattr(span, "attributes", None) or {}).get(REQUEST_TOOL_NAMES) or ()
        if len(offered) >= 2:
            semantics.decision(span, "tool_selection", self.tool_names[0], list(offered))

    def _content(self, attrs: dict[str, Any]) -> None:
        settings = self.telemetry.settings
        capture = settings.content.on_spans or settings.content.as_events
        event: dict[str, Any] = {}
        for key, value, hash_key, chars_key in (
            ("gen_ai.input.messages", self.input_messages, INPUT_HASH, INPUT_CHARS),
            ("gen_ai.output.messages", self.output_messages, OUTPUT_HASH, OUTPUT_CHARS),
            ("gen_ai.system_instructions", self.system_instructions, PROMPT_HASH, None),
        ):
            if value is None:
                continue
            if chars_key is None:
                text, attrs[hash_key] = _system_text(value)
            else:
                text = as_json_text(value)
                attrs[hash_key] = text_hash(text)
                attrs[chars_key] = len(text)
            if capture:
                shown = scrub(text) if settings.scrub_pii else text
                if settings.content.on_spans:
                    attrs[key] = shown
                if settings.content.as_events:
                    event[key] = shown
        if event:
            event["gen_ai.operation.name"] = self.operation
            self.telemetry.emit_event(self.span, event)

    def __enter__(self) -> Invocation:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc is not None:
            self.fail(exc)
        else:
            self.stop()


def message_list(messages: Sequence[Any] | None) -> list[Any] | None:
    """SDK message objects (pydantic models, TypedDicts) as plain JSON-able data."""
    if messages is None:
        return None
    out = []
    for m in messages:
        if type(m) is dict:  # the common case: no attribute probing
            out.append(m)
        elif hasattr(m, "model_dump"):
            out.append(m.model_dump(exclude_none=True))
        else:
            out.append(m)
    return out
