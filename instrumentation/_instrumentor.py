"""The base of every client-SDK instrumentor: one target list switches the patches on and off.

Why a base class: instrumenting an SDK is always the same — build one ``GenAITelemetry`` from the
providers and settings given to ``instrument()``, wrap each ``module, "Class.method"`` target the
installed SDK version has, and unwrap exactly those — so ``_instrument`` and ``_uninstrument`` can
never drift apart, and each SDK package only lists its targets.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Collection
from typing import Any, ClassVar

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from driftline.instrumentation._invocation import ACTIVE_PROVIDERS, GenAITelemetry

log = logging.getLogger(__name__)


class SDKInstrumentor(BaseInstrumentor):
    PROVIDER: ClassVar[str]
    INSTRUMENTS: ClassVar[tuple[str, ...]]
    # (module, "Class.method", wrapper factory taking the GenAITelemetry); absent modules are skipped
    TARGETS: ClassVar[tuple[tuple[str, str, Any], ...]]

    _patched: list[tuple[Any, str]]

    def instrumentation_dependencies(self) -> Collection[str]:
        return self.INSTRUMENTS

    def stand_aside(self) -> bool:
        """True when something else already makes these calls' spans (then nothing is wrapped)."""
        return False

    def _instrument(self, **kwargs: Any) -> None:
        self._patched = []
        if self.stand_aside():
            log.info(
                "%s: another instrumentation already traces %s calls; not wrapping them again",
                type(self).__name__,
                self.PROVIDER,
            )
            return
        telemetry = GenAITelemetry(kwargs.get("tracer_provider"), kwargs.get("logger_provider"), kwargs.get("settings"))
        for module_name, target, factory in self.TARGETS:
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
            ACTIVE_PROVIDERS.add(self.PROVIDER)

    def _uninstrument(self, **kwargs: Any) -> None:
        for owner, method in getattr(self, "_patched", []):
            unwrap(owner, method)
        self._patched = []
        ACTIVE_PROVIDERS.discard(self.PROVIDER)
