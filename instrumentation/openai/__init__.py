"""OpenAI SDK instrumentor: chat completions (sync, async, streaming, tool calls), responses, embeddings.

Why it only switches patches: one target list drives both ``_instrument`` and ``_uninstrument`` so
they cannot drift apart; what each call records is decided by the wrapper factories in ``patch.py``
and the shared lifecycle in ``_invocation.py``. If the OpenTelemetry-contrib ``openai-v2``
instrumentor is already active, this one stands aside rather than emit a second span per call.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from driftline.instrumentation._invocation import ACTIVE_PROVIDERS, GenAITelemetry
from driftline.instrumentation.openai import patch
from driftline.instrumentation.openai.patch import PROVIDER

log = logging.getLogger(__name__)

_INSTRUMENTS = ("openai >= 1.26.0",)

# (module, "Class.method", wrapper factory); modules that an SDK version lacks are skipped.
TARGETS: tuple[tuple[str, str, Any], ...] = (
    ("openai.resources.chat.completions", "Completions.create", patch.chat(is_async=False)),
    ("openai.resources.chat.completions", "AsyncCompletions.create", patch.chat(is_async=True)),
    ("openai.resources.embeddings", "Embeddings.create", patch.embeddings(is_async=False)),
    ("openai.resources.embeddings", "AsyncEmbeddings.create", patch.embeddings(is_async=True)),
    ("openai.resources.responses", "Responses.create", patch.responses(is_async=False)),
    ("openai.resources.responses", "AsyncResponses.create", patch.responses(is_async=True)),
)


def contrib_instrumentor_active() -> bool:
    """True when opentelemetry-instrumentation-openai-v2 already wraps the SDK in this process."""
    try:
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as ContribInstrumentor
    except Exception:  # not installed, or installed but broken: either way not active
        return False
    return bool(getattr(ContribInstrumentor(), "is_instrumented_by_opentelemetry", False))


class OpenAIInstrumentor(BaseInstrumentor):
    """``OpenAIInstrumentor().instrument(tracer_provider=...)``; picked up by ``opentelemetry-instrument``."""

    _patched: list[tuple[Any, str]]

    def instrumentation_dependencies(self) -> Collection[str]:
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        self._patched = []
        if contrib_instrumentor_active():
            log.info("opentelemetry-instrumentation-openai-v2 is active: Driftline's OpenAI instrumentor stands aside")
            return
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
