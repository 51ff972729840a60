"""LangChain / LangGraph instrumentor: one callback handler added to every callback manager.

Why through the callback manager: LangChain's extension point for observers is the callback system,
and wrapping ``BaseCallbackManager.__init__`` to add one inheritable handler reaches every chain,
graph, chat model and tool, however they were built — the way OpenInference's LangChain
instrumentation does it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from driftline.instrumentation._invocation import GenAITelemetry

_INSTRUMENTS = ("langchain-core >= 0.3.0",)
_TARGET = ("langchain_core.callbacks.manager", "BaseCallbackManager.__init__")


class LangChainInstrumentor(BaseInstrumentor):
    """``LangChainInstrumentor().instrument(tracer_provider=...)``; picked up by ``opentelemetry-instrument``."""

    handler: Any = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        # imported here: loading this module (as opentelemetry-instrument does for every entry point)
        # must work where langchain-core is not installed
        from driftline.instrumentation.langchain.handler import DriftlineCallbackHandler

        telemetry = GenAITelemetry(kwargs.get("tracer_provider"), kwargs.get("logger_provider"), kwargs.get("settings"))
        handler = self.handler = DriftlineCallbackHandler(telemetry)

        def add_handler(wrapped: Any, instance: Any, args: tuple, kwargs: dict[str, Any]) -> None:
            wrapped(*args, **kwargs)
            if not any(isinstance(h, DriftlineCallbackHandler) for h in instance.inheritable_handlers):
                instance.add_handler(handler, inherit=True)

        wrap_function_wrapper(*_TARGET, add_handler)

    def _uninstrument(self, **kwargs: Any) -> None:
        from langchain_core.callbacks.manager import BaseCallbackManager

        unwrap(BaseCallbackManager, "__init__")
        self.handler = None
