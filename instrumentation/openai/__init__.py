"""OpenAI SDK instrumentor: chat completions (sync, async, streaming, tool calls), responses, embeddings.

What each call records is decided by the wrapper factories in ``patch.py`` and the shared lifecycle
in ``_invocation.py``; this module only lists the targets. If the OpenTelemetry-contrib
``openai-v2`` instrumentor is already active, this one stands aside rather than emit a second span
per call.
"""

from __future__ import annotations

from driftline.instrumentation._instrumentor import SDKInstrumentor
from driftline.instrumentation.openai import patch


def contrib_instrumentor_active() -> bool:
    """True when opentelemetry-instrumentation-openai-v2 already wraps the SDK in this process."""
    try:
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as ContribInstrumentor
    except Exception:  # not installed, or installed but broken: either way not active
        return False
    return bool(getattr(ContribInstrumentor(), "is_instrumented_by_opentelemetry", False))


class OpenAIInstrumentor(SDKInstrumentor):
    """``OpenAIInstrumentor().instrument(tracer_provider=...)``; picked up by ``opentelemetry-instrument``."""

    PROVIDER = patch.PROVIDER
    INSTRUMENTS = ("openai >= 1.26.0",)
    TARGETS = (
        ("openai.resources.chat.completions", "Completions.create", patch.chat(is_async=False)),
        ("openai.resources.chat.completions", "AsyncCompletions.create", patch.chat(is_async=True)),
        ("openai.resources.embeddings", "Embeddings.create", patch.embeddings(is_async=False)),
        ("openai.resources.embeddings", "AsyncEmbeddings.create", patch.embeddings(is_async=True)),
        ("openai.resources.responses", "Responses.create", patch.responses(is_async=False)),
        ("openai.resources.responses", "AsyncResponses.create", patch.responses(is_async=True)),
    )

    def stand_aside(self) -> bool:
        return contrib_instrumentor_active()
