"""The wrapper every SDK instrumentor uses: start an Invocation, call through, finish or fail.

Why shared: the rules are the same for every client library — telemetry that fails never breaks the
call (the call goes on untraced), a failing call is recorded and re-raised unchanged, and a streaming
call hands back a proxy whose span ends when the stream does. Each SDK supplies only its start,
finish and stream-accumulator functions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from driftline.instrumentation._invocation import GenAITelemetry, Invocation
from driftline.instrumentation._stream import watch

log = logging.getLogger(__name__)

REQUEST_TOOL_NAMES = "driftline.request.tool_names"
Start = Callable[[GenAITelemetry, Any, dict[str, Any]], Invocation]
Finish = Callable[[Invocation, Any], None]


def given(kwargs: dict[str, Any], *names: str) -> Any:
    """The first argument the caller really passed (the SDK's NOT_GIVEN / Omit sentinels are not values)."""
    for name in names:
        value = kwargs.get(name)
        if value is not None and type(value).__name__ not in ("NotGiven", "Omit"):
            return value
    return None


def server_attributes(instance: Any) -> dict[str, Any]:
    url = getattr(getattr(instance, "_client", None), "base_url", None)
    if url is None:
        return {}
    return {"server.address": getattr(url, "host", None), "server.port": getattr(url, "port", None)}


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
                finish(inv, result)
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
