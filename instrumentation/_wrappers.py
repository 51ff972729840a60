"""The wrapper every SDK instrumentor uses: start an Invocation, call through, finish or fail.

Why shared: the rules are the same for every client library — telemetry that fails never breaks the
call (the call goes on untraced), a failing call is recorded and re-raised unchanged, and a streaming
call hands back a proxy whose span ends when the stream does. Each SDK supplies only its start,
finish and stream-accumulator functions.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections.abc import Callable
from typing import Any

from driftline.instrumentation._invocation import REQUEST_TOOL_NAMES, GenAITelemetry, Invocation
from driftline.instrumentation._stream import watch

log = logging.getLogger(__name__)

__all__ = ["REQUEST_TOOL_NAMES", "given", "request_attributes", "server_attributes", "wrapper_factory"]
Start = Callable[[GenAITelemetry, Any, dict[str, Any]], Invocation]
Finish = Callable[[Invocation, Any], None]


_SENTINELS = ("NotGiven", "Omit")


def given(kwargs: dict[str, Any], *names: str) -> Any:
    """The first argument the caller really passed (the SDK's NOT_GIVEN / Omit sentinels are not values)."""
    for name in names:
        value = kwargs.get(name)
        if value is not None and type(value).__name__ not in _SENTINELS:
            return value
    return None


def request_attributes(kwargs: dict[str, Any], mapping: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """``{attribute: kwargs[param]}`` for every param the caller really passed, in one pass."""
    out = {}
    for param, attribute in mapping:
        value = kwargs.get(param)
        if value is not None and type(value).__name__ not in _SENTINELS:
            out[attribute] = value
    return out


_SERVERS: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def server_attributes(instance: Any) -> dict[str, Any]:
    """``server.address`` / ``server.port`` of the SDK client behind a resource, worked out once per client."""
    client = getattr(instance, "_client", None)
    if client is None:
        return {}
    try:
        return dict(_SERVERS[client])
    except (KeyError, TypeError):
        pass
    url = getattr(client, "base_url", None)
    found = (
        {} if url is None else {"server.address": getattr(url, "host", None), "server.port": getattr(url, "port", None)}
    )
    with contextlib.suppress(TypeError):
        _SERVERS[client] = found
    return dict(found)


def _parsed(result: Any) -> Any:
    """The response object behind a raw response (``client.chat.completions.with_raw_response.create``,
    which CrewAI uses): the SDK caches what ``parse()`` returns, so reading it here takes nothing from
    the caller, whose own ``parse()`` gets the same object."""
    if type(result).__name__ == "LegacyAPIResponse" and callable(getattr(result, "parse", None)):
        return result.parse()
    return result


def wrapper_factory(
    start: Start,
    finish: Finish,
    stream_state: Callable[[], Any] | None,
    is_async: bool,
    stand_aside: Callable[[Any], bool] | None = None,
) -> Callable[[GenAITelemetry], Any]:
    """``stand_aside(instance)`` true means something else already makes this call's span: call through."""

    def make(telemetry: GenAITelemetry) -> Any:
        def begin(instance: Any, kwargs: dict[str, Any]) -> Invocation | None:
            try:
                if stand_aside is not None and stand_aside(instance):
                    return None
                return start(telemetry, instance, kwargs)
            except Exception:  # telemetry must never break the call
                log.debug("could not start a GenAI span", exc_info=True)
                return None

        def end(inv: Invocation, result: Any, kwargs: dict[str, Any]) -> Any:
            if stream_state is not None and given(kwargs, "stream"):
                state = stream_state()
                return watch(result, inv, state.add, state.end, is_async)
            try:
                finish(inv, _parsed(result))
            except Exception:
                log.debug("could not read the response", exc_info=True)
            inv.stop()
            return result

        if is_async:

            async def async_wrapper(wrapped: Any, instance: Any, args: tuple, kwargs: dict[str, Any]) -> Any:
                inv = begin(instance, kwargs)
                if inv is None:
                    return await wrapped(*args, **kwargs)
                try:
                    result = await wrapped(*args, **kwargs)
                except BaseException as error:
                    inv.fail(error)
                    raise
                return end(inv, result, kwargs)

            return async_wrapper

        def wrapper(wrapped: Any, instance: Any, args: tuple, kwargs: dict[str, Any]) -> Any:
            inv = begin(instance, kwargs)
            if inv is None:
                return wrapped(*args, **kwargs)
            try:
                result = wrapped(*args, **kwargs)
            except BaseException as error:
                inv.fail(error)
                raise
            return end(inv, result, kwargs)

        return wrapper

    return make
