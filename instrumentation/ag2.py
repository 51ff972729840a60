"""AG2 1.x: its own ``TelemetryMiddleware`` attached to every agent.

Why our own code: AG2 1.x (``import ag2``) traces itself — ``invoke_agent``, ``chat`` with usage,
``execute_tool`` and ``record_usage`` spans in the GenAI conventions — but only for agents built with
``middleware=[TelemetryMiddleware(...)]``, and OpenInference's AG2 instrumentor covers only the
classic ag2 < 1.0. This instrumentor adds that middleware, outermost, to every ``ag2.Agent`` created
after ``instrument()``, named after the agent, with content captured only when Driftline's content
capture is on. An agent that already has a ``TelemetryMiddleware`` is left as it is.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from driftline.instrumentation import settings as settings_mod

_MODULE = "ag2.agent"


def _attach(tracer_provider: Any, capture_content: bool) -> Any:
    def init(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        result = wrapped(*args, **kwargs)
        try:
            from ag2.middleware.builtin.telemetry import TelemetryMiddleware
        except ImportError:  # ag2 without its [tracing] extra: nothing to attach
            return result
        middleware = instance._middleware
        if not any(isinstance(m, TelemetryMiddleware) for m in middleware):
            config = getattr(instance, "config", None)
            provider = getattr(config, "provider", None)
            middleware.insert(
                0,
                TelemetryMiddleware(
                    tracer_provider=tracer_provider,
                    capture_content=capture_content,
                    agent_name=instance.name,
                    provider_name=getattr(provider, "value", provider) if provider is not None else None,
                    model_name=getattr(config, "model", None),
                ),
            )
        return result

    return init


class AG2Instrumentor(BaseInstrumentor):
    """``AG2Instrumentor().instrument(tracer_provider=...)``; picked up by ``opentelemetry-instrument``."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("ag2 >= 1.0",)

    def _instrument(self, **kwargs: Any) -> None:
        settings = kwargs.get("settings") or settings_mod.load()
        wrap_function_wrapper(
            _MODULE, "Agent.__init__", _attach(kwargs.get("tracer_provider"), settings.content.on_spans)
        )

    def _uninstrument(self, **kwargs: Any) -> None:
        import importlib

        unwrap(importlib.import_module(_MODULE).Agent, "__init__")
