"""Haystack's tool calls as ``execute_tool`` spans.

Why our own code: OpenInference's Haystack instrumentor traces pipeline components, but an ``Agent``
runs its tools inside the component, through ``Tool.invoke``, so without this a Haystack agent's runs
show model calls and no tools. The span is the same ``execute_tool {name}`` span as
``driftline.instrumentation.tool_call`` (arguments and result hashed unless content capture is on).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from driftline.instrumentation.agent import tool_call

_MODULE = "haystack.tools.tool"


def _invoke(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    with tool_call(instance.name, kwargs or None, description=getattr(instance, "description", None)) as call:
        result = wrapped(*args, **kwargs)
        call.set_result(result)
        return result


async def _invoke_async(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    if getattr(instance, "async_function", None) is None:  # it runs invoke() in a thread: traced there
        return await wrapped(*args, **kwargs)
    with tool_call(instance.name, kwargs or None, description=getattr(instance, "description", None)) as call:
        result = await wrapped(*args, **kwargs)
        call.set_result(result)
        return result


class HaystackToolsInstrumentor(BaseInstrumentor):
    """``execute_tool`` spans around ``haystack.tools.Tool.invoke`` / ``invoke_async``."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("haystack-ai >= 2.9",)

    def _instrument(self, **kwargs: Any) -> None:
        wrap_function_wrapper(_MODULE, "Tool.invoke", _invoke)
        wrap_function_wrapper(_MODULE, "Tool.invoke_async", _invoke_async)

    def _uninstrument(self, **kwargs: Any) -> None:
        import importlib

        tool = importlib.import_module(_MODULE).Tool
        unwrap(tool, "invoke")
        unwrap(tool, "invoke_async")
