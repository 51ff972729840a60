"""Agent frameworks: for each one that is importable, the best tracing available, turned on and logged.

Why a table: LlamaIndex, DSPy, CrewAI, smolagents, Haystack, AutoGen and AG2 either emit OpenTelemetry
spans themselves or have a maintained OpenInference instrumentor; Driftline's job is to turn the best
one on, not to re-instrument them. The choice per framework is, in order: the framework's own spans
(nothing to install), else the maintained instrumentor when its package is installed (the extra
``driftline[<name>]`` installs it), else nothing — logged with the extra to install. Our own code is
added only where nothing maintained does the job (a framework's ``driver``: Haystack's tool calls,
which no instrumentor records; AG2 1.x's own telemetry middleware, which must be attached per agent;
DSPy's token usage and signatures, and quiet optimizers).

The model calls under a framework's spans are the SDK's (``openai``, ``anthropic``), recorded by our
instrumentors; a framework's LLM span around them is a wrapper, and the analysis counts tokens and cost
on the innermost model call only, so turning both on never counts a call twice.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("driftline.instrumentation")


@dataclass(frozen=True)
class Framework:
    """One agent framework and where its tracing comes from."""

    name: str  # what setup(instrument=...) and the extra are called
    module: str  # importable when the framework is installed
    native: bool  # it emits OpenTelemetry spans itself through the global TracerProvider
    instrumentor: tuple[str, str] | None  # the maintained instrumentor: module, class
    driver: tuple[str, str] | None = None  # our own addition (module, class), on whatever else is chosen


FRAMEWORKS: tuple[Framework, ...] = (
    Framework(
        "llamaindex",
        "llama_index.core",
        native=False,
        instrumentor=("openinference.instrumentation.llama_index", "LlamaIndexInstrumentor"),
    ),
    Framework(
        "dspy",
        "dspy",
        native=False,
        instrumentor=("openinference.instrumentation.dspy", "DSPyInstrumentor"),
        driver=("driftline.instrumentation.dspy", "DSPyUsageInstrumentor"),  # tokens, signature, no compile
    ),
    Framework(
        "crewai",
        "crewai",
        native=False,  # a private tracer whose API still moves: the OpenInference instrumentor reads it
        instrumentor=("openinference.instrumentation.crewai", "CrewAIInstrumentor"),
    ),
    Framework(
        "smolagents",
        "smolagents",
        native=False,
        instrumentor=("openinference.instrumentation.smolagents", "SmolagentsInstrumentor"),
    ),
    Framework(
        "haystack",
        "haystack",
        native=False,  # 2.x traced itself; 3.x moved that to a separate package, OpenInference covers both
        instrumentor=("openinference.instrumentation.haystack", "HaystackInstrumentor"),
        driver=("driftline.instrumentation.haystack", "HaystackToolsInstrumentor"),  # an Agent's tool calls
    ),
    Framework(
        "autogen",
        "autogen_agentchat",
        native=True,  # create_agent / invoke_agent / execute_tool through the global TracerProvider
        instrumentor=None,
    ),
    Framework(
        "ag2",
        "ag2",  # AG2 1.x; the classic ag2 < 1.0 is `import autogen`
        native=False,
        instrumentor=None,  # OpenInference's -ag2 covers only the classic ag2 < 1.0
        driver=("driftline.instrumentation.ag2", "AG2Instrumentor"),  # attaches AG2's TelemetryMiddleware
    ),
)
BY_NAME = {f.name: f for f in FRAMEWORKS}


def installed(framework: Framework) -> bool:
    """Importable without importing it (finding a module spec does not run the framework)."""
    try:
        return importlib.util.find_spec(framework.module) is not None
    except (ImportError, ValueError):
        return False


def _available(target: tuple[str, str] | None) -> bool:
    if target is None:
        return False
    try:
        return importlib.util.find_spec(target[0]) is not None
    except (ImportError, ValueError):
        return False


def choose(framework: Framework) -> tuple[str, tuple[str, str] | None]:
    """What traces ``framework``: ("native", None), ("instrumentor", target) or ("none", None)."""
    if framework.native:
        return "native", None
    if _available(framework.instrumentor):
        return "instrumentor", framework.instrumentor
    return "none", None


def _turn_on(target: tuple[str, str], tracer_provider: Any, **kwargs: Any) -> Any | None:
    """Instrument with ``target``; None when it was already on. Raises what the instrumentor raises."""
    instrumentor = getattr(importlib.import_module(target[0]), target[1])()
    if instrumentor.is_instrumented_by_opentelemetry:  # opentelemetry-instrument may have done it
        return None
    instrumentor.instrument(tracer_provider=tracer_provider, **kwargs)
    return instrumentor


def instrument(framework: Framework, tracer_provider: Any, settings: Any = None) -> list[Any]:
    """Turn on ``framework``'s tracing; returns the instrumentors turned on here (to uninstrument).
    ``settings`` (Driftline's content capture) reach our own drivers. An instrumentor that fails (a
    framework release it does not know) is logged and skipped: tracing must never stop the app."""
    how, target = choose(framework)
    turned_on: list[Any] = []
    steps: list[tuple[tuple[str, str], dict[str, Any], str]] = []
    if how == "native":
        log.info("driftline: %s traces itself (its own OpenTelemetry spans)", framework.name)
    elif how == "instrumentor" and target is not None:
        steps.append((target, {}, "traced by"))
    elif framework.driver is None:
        log.warning(
            "driftline: %s is installed but nothing traces it: pip install 'driftline[%s]'",
            framework.name,
            framework.name,
        )
    if framework.driver is not None:
        steps.append((framework.driver, {"settings": settings}, "added"))
    for step, kwargs, verb in steps:
        try:
            done = _turn_on(step, tracer_provider, **kwargs)
        except Exception as exc:
            log.warning(
                "driftline: %s: could not turn on %s.%s (%s: %s)", framework.name, *step, type(exc).__name__, exc
            )
            continue
        if done is not None:
            turned_on.append(done)
        if verb == "traced by":
            log.info("driftline: %s traced by %s.%s", framework.name, *step)
        else:
            log.info("driftline: %s: %s.%s added", framework.name, *step)
    return turned_on


def present() -> list[Framework]:
    """The frameworks importable in this environment."""
    return [f for f in FRAMEWORKS if installed(f)]
