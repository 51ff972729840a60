"""Stream proxies: a streaming call's span ends when the stream is exhausted, fails or is closed.

Why proxies: the SDK returns the stream before any token arrives, so the usage, finish reasons and
tool calls are only known at the end. A ``wrapt.ObjectProxy`` keeps every other attribute of the
SDK's stream object working while it watches the iteration.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from wrapt import ObjectProxy

from driftline.instrumentation._invocation import Invocation


class _Watch:
    def __init__(
        self, invocation: Invocation, on_item: Callable[[Invocation, Any], None], on_end: Callable[[Invocation], None]
    ) -> None:
        self.invocation = invocation
        self.on_item = on_item
        self.on_end = on_end
        self.done = False

    def item(self, item: Any) -> None:
        with contextlib.suppress(Exception):  # never let telemetry break the caller's stream
            self.on_item(self.invocation, item)

    def finish(self, error: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        if error is not None:
            self.invocation.fail(error)
            return
        try:
            self.on_end(self.invocation)
        finally:
            self.invocation.stop()


class SyncStream(ObjectProxy):  # type: ignore[misc]
    def __init__(self, stream: Any, watch: _Watch) -> None:
        super().__init__(stream)
        self._self_watch = watch

    def __iter__(self) -> SyncStream:
        return self

    def __next__(self) -> Any:
        try:
            item = next(self.__wrapped__)
        except StopIteration:
            self._self_watch.finish()
            raise
        except BaseException as error:
            self._self_watch.finish(error)
            raise
        self._self_watch.item(item)
        return item

    def __enter__(self) -> SyncStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_watch.finish()


class AsyncStream(ObjectProxy):  # type: ignore[misc]
    def __init__(self, stream: Any, watch: _Watch) -> None:
        super().__init__(stream)
        self._self_watch = watch

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> Any:
        try:
            item = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            self._self_watch.finish()
            raise
        except BaseException as error:
            self._self_watch.finish(error)
            raise
        self._self_watch.item(item)
        return item

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            self._self_watch.finish()


def watch(
    stream: Any,
    invocation: Invocation,
    on_item: Callable[[Invocation, Any], None],
    on_end: Callable[[Invocation], None],
    is_async: bool,
) -> Any:
    w = _Watch(invocation, on_item, on_end)
    return AsyncStream(stream, w) if is_async else SyncStream(stream, w)
