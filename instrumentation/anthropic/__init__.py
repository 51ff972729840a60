"""Anthropic SDK instrumentor: ``messages.create`` (sync, async, ``stream=True``, ``tool_use`` blocks).

What each call records is decided in ``patch.py`` on top of the shared lifecycle in
``_invocation.py``; this module only lists the targets. Calls of clients whose SDK traces them
natively are left to the SDK (see ``patch.native_tracing``).
"""

from __future__ import annotations

from driftline.instrumentation._instrumentor import SDKInstrumentor
from driftline.instrumentation.anthropic import patch


class AnthropicInstrumentor(SDKInstrumentor):
    """``AnthropicInstrumentor().instrument(tracer_provider=...)``; picked up by ``opentelemetry-instrument``."""

    PROVIDER = patch.PROVIDER
    INSTRUMENTS = ("anthropic >= 0.30.0",)
    TARGETS = (
        ("anthropic.resources.messages.messages", "Messages.create", patch.messages(is_async=False)),
        ("anthropic.resources.messages.messages", "AsyncMessages.create", patch.messages(is_async=True)),
    )
