"""DSPy: token usage and the signature on each LM call's span, and no traces from optimizers.

Why our own code: OpenInference's DSPy instrumentor records modules, adapters and LM calls, but its LM
spans carry no token counts, and with DSPy's LiteLLM engine nothing else may record the call. A DSPy
callback (DSPy's own extension point, run inside the instrumentor's LM span) puts the usage DSPy keeps
in the LM's history and the signature of the predictor that made the call on that span; without an
OpenInference LM span it records a GenAI ``chat`` span of its own. Whichever span carries the tokens,
the analysis counts them once (the innermost model call).

Optimizers (``compile``) run the program hundreds of times in DSPy's worker threads, which copy DSPy's
settings but not the OpenTelemetry context: every one of those calls would become a trace — a "run" —
of its own. By default nothing is traced while an optimizer compiles: the callback suppresses
instrumentation for the compile call and marks DSPy's settings so its worker threads suppress it too.
``DSPyUsageInstrumentor().instrument(trace_compile=True)`` keeps them.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Collection
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import is_instrumentation_enabled, unwrap
from wrapt import wrap_function_wrapper

SIGNATURE_KEY = "dspy.signature"
_SUPPRESS_FLAG = "driftline_suppress_tracing"  # a DSPy setting: copied into DSPy's worker threads
_OI_KIND = "openinference.span.kind"

_signature: contextvars.ContextVar[str | None] = contextvars.ContextVar("driftline_dspy_signature", default=None)


def _usage_attributes(usage: dict[str, Any], openinference: bool) -> dict[str, int]:
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if openinference:
        keys = ("llm.token_count.prompt", "llm.token_count.completion")
    else:
        keys = ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens")
    return {k: int(v) for k, v in zip(keys, (prompt, completion), strict=True) if isinstance(v, int | float)}


def _callback_class() -> type:
    from dspy.utils.callback import BaseCallback

    class UsageCallback(BaseCallback):
        """Started per call id, finished per call id: DSPy calls both in the caller's thread."""

        def __init__(self, tracer: trace.Tracer, trace_compile: bool) -> None:
            self.tracer = tracer
            self.trace_compile = trace_compile
            self.lock = threading.Lock()
            self.calls: dict[str, Any] = {}

        def on_module_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
            signature = getattr(getattr(instance, "signature", None), "signature", None)
            if isinstance(signature, str):
                with self.lock:
                    self.calls[call_id] = _signature.set(signature)

        def on_module_end(self, call_id: str, outputs: Any, exception: Exception | None = None) -> None:
            with self.lock:
                token = self.calls.pop(call_id, None)
            if token is not None:
                _signature.reset(token)

        def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
            current = trace.get_current_span()
            attributes = getattr(current, "attributes", None) or {}
            own = None
            if attributes.get(_OI_KIND) != "LLM" and is_instrumentation_enabled():  # no LM span: record one
                model = str(getattr(instance, "model", "") or "")
                own = self.tracer.start_span(
                    f"chat {model.split('/', 1)[-1]}",
                    kind=trace.SpanKind.CLIENT,
                    attributes={
                        "gen_ai.operation.name": "chat",
                        "gen_ai.provider.name": model.split("/", 1)[0] if "/" in model else "dspy",
                        "gen_ai.request.model": model.split("/", 1)[-1],
                    },
                )
            span = own or current
            signature = _signature.get()
            if signature and span.is_recording():
                span.set_attribute(SIGNATURE_KEY, signature)
            with self.lock:
                self.calls[call_id] = (instance, span, own, len(getattr(instance, "history", []) or []))

        def on_lm_end(self, call_id: str, outputs: Any, exception: Exception | None = None) -> None:
            with self.lock:
                started = self.calls.pop(call_id, None)
            if started is None:
                return
            instance, span, own, seen = started
            history = getattr(instance, "history", None) or []
            entry = history[-1] if len(history) > seen else None
            if entry is not None and span.is_recording():
                for key, value in _usage_attributes(entry.get("usage") or {}, own is None).items():
                    span.set_attribute(key, value)
                if own is not None and entry.get("response_model"):
                    own.set_attribute("gen_ai.response.model", str(entry["response_model"]))
            if own is not None:
                if exception is not None:
                    own.record_exception(exception)
                    own.set_status(trace.Status(trace.StatusCode.ERROR, type(exception).__name__))
                own.end()

        def on_compile_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
            if self.trace_compile:
                return
            import dspy

            token = otel_context.attach(otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True))
            manager = dspy.settings.context(**{_SUPPRESS_FLAG: True})
            manager.__enter__()
            with self.lock:
                self.calls[call_id] = (token, manager)

        def on_compile_end(self, call_id: str, outputs: Any, exception: Exception | None = None) -> None:
            with self.lock:
                started = self.calls.pop(call_id, None)
            if started is None:
                return
            token, manager = started
            manager.__exit__(None, None, None)
            otel_context.detach(token)

    return UsageCallback


def _suppressed_worker(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    """DSPy's parallel workers: suppress instrumentation in the worker while an optimizer compiles."""
    function = wrapped(*args, **kwargs)

    def run(*a: Any, **k: Any) -> Any:
        import dspy

        if not dspy.settings.get(_SUPPRESS_FLAG, False):
            return function(*a, **k)
        token = otel_context.attach(otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            return function(*a, **k)
        finally:
            otel_context.detach(token)

    return run


class DSPyUsageInstrumentor(BaseInstrumentor):
    """Adds the usage callback to ``dspy.settings.callbacks``; picked up by ``opentelemetry-instrument``."""

    _callback: Any = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("dspy >= 2.6",)

    def _instrument(self, **kwargs: Any) -> None:
        import dspy

        tracer = trace.get_tracer("driftline.instrumentation", tracer_provider=kwargs.get("tracer_provider"))
        self._callback = _callback_class()(tracer, bool(kwargs.get("trace_compile", False)))
        dspy.settings.configure(callbacks=[*dspy.settings.get("callbacks", []), self._callback])
        wrap_function_wrapper("dspy.utils.parallelizer", "ParallelExecutor._wrap_function", _suppressed_worker)

    def _uninstrument(self, **kwargs: Any) -> None:
        import dspy
        from dspy.utils.parallelizer import ParallelExecutor

        callbacks = [c for c in dspy.settings.get("callbacks", []) if c is not self._callback]
        dspy.settings.configure(callbacks=callbacks)
        unwrap(ParallelExecutor, "_wrap_function")
        self._callback = None
