"""Agent runs and tool calls as GenAI semantic-convention spans.

Why these shapes: an agent run (``invoke_agent {name}``) is the unit Driftline fingerprints, and its
version is what a drift report compares, so both are first-class arguments. Runs nest through the
OpenTelemetry context (an orchestrator's run is the parent of its sub-agents'), and a tool call made
again with the same arguments inside one run is marked with its attempt number, so retry loops show.

    with agent_run("support-agent", version="v2.1") as run:
        with tool_call("search_kb", arguments={"q": "refund"}) as call:
            call.set_result(search(...))
        run.set_outcome("resolved")
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import os
from collections.abc import Callable
from typing import Any, TypeVar

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from driftline.instrumentation import _invocation as inv
from driftline.instrumentation import semantics as sem
from driftline.instrumentation import settings as settings_mod

F = TypeVar("F", bound=Callable[..., Any])

_current_run: contextvars.ContextVar[AgentRun | None] = contextvars.ContextVar("driftline_agent_run", default=None)
_settings: settings_mod.Settings | None = None


def configure(settings: settings_mod.Settings | None) -> None:
    """Called by ``setup()``; otherwise settings come from the environment on first use."""
    global _settings
    _settings = settings


def _current_settings() -> settings_mod.Settings:
    global _settings
    if _settings is None:
        _settings = settings_mod.load()
    return _settings


_TRACER = trace.get_tracer(inv.SCOPE)  # a proxy until a provider is set, then that provider's tracer


def _tracer() -> trace.Tracer:
    return _TRACER


def _record_error(span: Span, error: BaseException) -> None:
    span.set_attribute("error.type", type(error).__qualname__)
    span.set_status(Status(StatusCode.ERROR, str(error)[:500]))
    span.record_exception(error)


class _SpanScope:
    """Start a span, make it current, end it: what ``start_as_current_span`` does, as a plain class
    (no generator per span: this runs on the app's thread for every agent run and tool call)."""

    __slots__ = ("_attributes", "_name", "_token", "span")

    def __init__(self, name: str, attributes: dict[str, Any]) -> None:
        self._name = name
        self._attributes = attributes
        self._token: Any = None
        self.span: Span = trace.INVALID_SPAN

    def _start(self) -> None:
        self.span = _TRACER.start_span(self._name, kind=SpanKind.INTERNAL, attributes=self._attributes)
        self._token = context_api.attach(trace.set_span_in_context(self.span))

    def _finish(self, error: BaseException | None) -> None:
        try:
            if error is not None:
                _record_error(self.span, error)
        finally:
            context_api.detach(self._token)
            self.span.end()


class AgentRun(_SpanScope):
    """The handle of one running agent: set its outcome and any attribute while it runs.

    ``with agent_run(...) as run:`` — exceptions mark the span failed and propagate."""

    __slots__ = ("_attempts", "_memory", "_run_token", "name")

    def __init__(self, name: str, attributes: dict[str, Any]) -> None:
        super().__init__(f"invoke_agent {name}", attributes)
        self.name = name
        self._attempts: dict[tuple[str, str], int] = {}
        self._memory: set[tuple[str | None, str]] = set()
        self._run_token: Any = None

    def __enter__(self) -> AgentRun:
        self._start()
        self._run_token = _current_run.set(self)
        return self

    def __exit__(self, exc_type: Any, error: BaseException | None, tb: Any) -> None:
        _current_run.reset(self._run_token)
        self._finish(error)

    def set_outcome(self, outcome: str) -> None:
        """E.g. ``resolved``, ``escalated``, ``failed``: compared across versions by drift reports."""
        self.span.set_attribute(inv.OUTCOME, outcome)

    def set_attribute(self, key: str, value: Any) -> None:
        self.span.set_attribute(key, value)

    def attempt(self, tool: str, args_hash: str) -> int:
        key = (tool, args_hash)
        count = self._attempts[key] = self._attempts.get(key, 0) + 1
        return count

    def _step(self) -> Span:
        """The span an event belongs to: the step current inside this run (a tool or model call), else
        the run's own span."""
        current = trace.get_current_span()
        inside = current.is_recording() and current.get_span_context().trace_id == self.span.get_span_context().trace_id
        return current if inside else self.span

    def decision(
        self,
        type: str,
        selected: str,
        *,
        candidates: list[str] | tuple[str, ...] | None = None,
        reason: str | None = None,
        confidence: float | None = None,
    ) -> None:
        """A choice the agent made: ``run.decision("tool_selection", "cache", candidates=["cache", "api"],
        reason="cheaper", confidence=0.8)``."""
        sem.decision(self._step(), type, selected, candidates, reason, confidence)

    def signal(self, type: str, code: str, value: bool, *, weight: float = 1.0) -> None:
        """An observed quality signal (not a verdict): ``run.signal("output", "schema_valid", True)``."""
        sem.signal(self._step(), type, code, value, weight)

    def failure(self, type: str, code: str, *, message: str | None = None, step: Span | str | None = None) -> None:
        """A failure by taxonomy: ``run.failure("tool", "timeout", message=str(exc))`` (the message is
        hashed); ``step`` is the span (or span id) that caused it, by default the current one."""
        sem.failure(self._step(), type, code, message, step)

    def memory_read(self, key: str, value: Any, *, memory_type: str | None = None) -> None:
        """A read of the agent's memory (``value`` None when nothing was found); the value is hashed."""
        sem.memory(self._step(), sem.MEMORY_READ, key, value, memory_type, value is not None)

    def memory_write(self, key: str, value: Any, *, memory_type: str | None = None) -> None:
        """A write to the agent's memory; ``overwrite`` says whether this run had written the key before."""
        slot = (memory_type, str(key))
        overwrite = slot in self._memory
        self._memory.add(slot)
        sem.memory(self._step(), sem.MEMORY_WRITE, key, value, memory_type, overwrite)

    def final(self, answer: Any) -> None:
        """The run's final answer: hashed, and its text sent only with content capture."""
        sem.final_answer(self.span, answer, _current_settings().content.on_spans)


def _default_version() -> str | None:
    """A run given no version: the service's version when the app set one (it names the runs), else
    the name ``git describe`` gives the work tree (computed once per process), so runs of an app that
    names nothing can still be compared — by ``driftline git compare BASE HEAD``."""
    resource = getattr(trace.get_tracer_provider(), "resource", None)
    if resource is not None and resource.attributes.get("service.version"):
        return None
    return _git_name()


@functools.cache
def _git_name() -> str | None:
    from driftline.instrumentation.git_version import describe

    return describe()


def agent_run(
    name: str,
    version: str | None = None,
    *,
    agent_id: str | None = None,
    conversation_id: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> AgentRun:
    """An ``invoke_agent {name}`` span around a ``with`` block."""
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": name,
        "gen_ai.agent.id": agent_id or name,
    }
    version = version if version is not None else _default_version()
    if version is not None:
        attrs["gen_ai.agent.version"] = version
    if conversation_id is not None:
        attrs["gen_ai.conversation.id"] = conversation_id
    if attributes:
        attrs.update(attributes)
    return AgentRun(name, attrs)


class ToolCall(_SpanScope):
    """The handle of one tool call: record its result (hashed unless content capture is on)."""

    __slots__ = ()

    def __enter__(self) -> ToolCall:
        self._start()
        return self

    def __exit__(self, exc_type: Any, error: BaseException | None, tb: Any) -> None:
        self._finish(error)

    def set_result(self, result: Any) -> None:
        text = inv.as_json_text(result)
        self.span.set_attribute(inv.TOOL_RESULT_HASH, inv.text_hash(text))
        if _current_settings().content.on_spans:
            self.span.set_attribute("gen_ai.tool.call.result", _text(result))

    def set_attribute(self, key: str, value: Any) -> None:
        self.span.set_attribute(key, value)


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else inv.canonical_json(value)
    if _current_settings().scrub_pii:
        from driftline.instrumentation.scrub import scrub

        text = scrub(text)
    return text


def tool_call(
    name: str,
    arguments: Any = None,
    *,
    call_id: str | None = None,
    tool_type: str = "function",
    description: str | None = None,
) -> ToolCall:
    """An ``execute_tool {name}`` span around a ``with`` block."""
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.call.id": call_id or f"call_{os.urandom(12).hex()}",
        "gen_ai.tool.type": tool_type,
    }
    if description:
        attrs["gen_ai.tool.description"] = description
    if arguments is not None:
        digest, _ = inv.content_hash(arguments)
        attrs[inv.TOOL_ARGS_HASH] = digest
        if _current_settings().content.on_spans:
            attrs["gen_ai.tool.call.arguments"] = _text(arguments)
        run = _current_run.get()
        if run is not None:
            attempt = run.attempt(name, digest)
            if attempt > 1:
                attrs[inv.TOOL_ATTEMPT] = attempt
    return ToolCall(f"execute_tool {name}", attrs)


def _bind_arguments(func: Callable[..., Any], args: tuple, kwargs: dict) -> dict[str, Any]:
    try:
        bound = inspect.signature(func).bind_partial(*args, **kwargs)
    except TypeError:
        return {"args": list(args), **kwargs}
    return {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}


def _wrap(func: F, enter: Callable[[tuple, dict], Any], on_result: Callable[[Any, Any], None] | None) -> F:
    """Wrap sync and async functions and (async) generators so the span covers the whole iteration."""
    if inspect.isasyncgenfunction(func):

        @functools.wraps(func)
        async def agen(*args: Any, **kwargs: Any) -> Any:
            with enter(args, kwargs):
                async for item in func(*args, **kwargs):
                    yield item

        return agen  # type: ignore[return-value]
    if inspect.isgeneratorfunction(func):

        @functools.wraps(func)
        def gen(*args: Any, **kwargs: Any) -> Any:
            with enter(args, kwargs):
                yield from func(*args, **kwargs)

        return gen  # type: ignore[return-value]
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def coro(*args: Any, **kwargs: Any) -> Any:
            with enter(args, kwargs) as handle:
                result = await func(*args, **kwargs)
                if on_result:
                    on_result(handle, result)
                return result

        return coro  # type: ignore[return-value]

    @functools.wraps(func)
    def plain(*args: Any, **kwargs: Any) -> Any:
        with enter(args, kwargs) as handle:
            result = func(*args, **kwargs)
            if on_result:
                on_result(handle, result)
            return result

    return plain  # type: ignore[return-value]


def track(func: F | None = None, *, agent: str | None = None, version: str | None = None) -> Any:
    """Decorator form of ``agent_run`` for sync/async functions and (async) generators.

    @track(agent="support-agent", version="v2.1")
    async def answer(question: str) -> str: ...
    """

    def decorate(f: F) -> F:
        name = agent or f.__name__
        return _wrap(f, lambda args, kwargs: agent_run(name, version), None)

    return decorate(func) if func is not None else decorate


def tool(func: F | None = None, *, name: str | None = None, tool_type: str = "function") -> Any:
    """Decorator form of ``tool_call``: the call's arguments and return value are recorded (hashed
    unless content capture is on)."""

    def decorate(f: F) -> F:
        tool_name = name or f.__name__
        return _wrap(
            f,
            lambda args, kwargs: tool_call(tool_name, _bind_arguments(f, args, kwargs), tool_type=tool_type),
            lambda call, result: call.set_result(result),
        )

    return decorate(func) if func is not None else decorate
