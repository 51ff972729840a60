"""Anthropic SDK instrumentor: ``messages.create`` (sync, async, ``stream=True``, ``tool_use`` blocks).

Why the same shape as the OpenAI one: one target list drives ``_instrument`` and ``_uninstrument``;
what a call records is decided in ``patch.py`` on top of the shared lifecycle in ``_invocation.py``.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from driftline.instrumentation._invocation import ACTIVE_PROVIDERS, GenAITelemetry
from driftline.instrumentation.anthropic import patch
from driftline.instrumentation.anthropic.patch import PROVIDER

_INSTRUMENTS = ("anthropic >= 0.30.0",)

TARGETS: tuple[tuple[str, str, Any], ...] = (
    ("anthropic.resources.messages.messages", "Messages.create", patch.messages(is_async=False)),
    ("anthropic.resources.messages.messages", "AsyncMessages.create", patch.messages(is_async=True)),
)


class AnthropicInstrumentor(BaseInstrumentor):
    """``AnthropicInstrumentor().instrument(tracer_provider=...)``; picked up by ``opentelemetry-instrument``."""

    _patched: list[tuple[Any, str]]

    def instrumentation_dependencies(self) -> Collection[str]:
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        self._patched = []
        telemetry = GenAITelemetry(kwargs.get("tracer_provider"), kwargs.get("logger_provider"), kwargs.get("settings"))
        for module_name, target, factory in TARGETS:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            owner, method = target.split(".")
            if not hasattr(getattr(module, owner, None), method):
                continue
            wrap_function_wrapper(module, target, factory(telemetry))
            self._patched.append((getattr(module, owner), method))
        if self._patched:
            ACTIVE_PROVIDERS.add(PROVIDER)

    def _uninstrument(self, **kwargs: Any) -> None:
        for owner, method in getattr(self, "_patched", []):
            unwrap(owner, method)
        self._patched = []
        ACTIVE_PROVIDERS.discard(PROVIDER)
