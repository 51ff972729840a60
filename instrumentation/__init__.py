"""Driftline instrumentation: what runs inside the user's application.

Why this shape: most teams already run OpenTelemetry, so ``setup()`` adds to an SDK
``TracerProvider`` the app already has instead of replacing it, honours the standard ``OTEL_*``
variables, and exports in the background (a ``BatchSpanProcessor``), so an instrumented call never
waits on the network. Everything here depends on the OpenTelemetry API/SDK only.

    from driftline.instrumentation import setup, agent_run, tool_call
    setup(service_name="support-agent", version="v2.1", environment="prod", instrument=("openai",))
    setup(service_name="support-agent", version="v2.1", instrument="auto")  # every SDK and framework found
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from typing import Any

from driftline.instrumentation import agent as _agent
from driftline.instrumentation import settings as _settings
from driftline.instrumentation.agent import AgentRun, ToolCall, agent_run, tool, tool_call, track
from driftline.instrumentation.semantics import declare

__all__ = ["AgentRun", "ToolCall", "agent_run", "declare", "setup", "shutdown", "tool", "tool_call", "track"]

log = logging.getLogger(__name__)

INSTRUMENTORS = {
    "openai": ("driftline.instrumentation.openai", "OpenAIInstrumentor"),
    "anthropic": ("driftline.instrumentation.anthropic", "AnthropicInstrumentor"),
    "langchain": ("driftline.instrumentation.langchain", "LangChainInstrumentor"),
}


class _State:
    lock = threading.Lock()
    provider: Any = None
    processor: Any = None
    logger_provider: Any = None
    log_processor: Any = None
    owns_provider = False
    instrumentors: dict[str, Any] = {}


def otlp_protocol(explicit: str | None = None) -> str:
    """The OTLP protocol: ``explicit``, else the standard variables, else gRPC (the SDK's default)."""
    return (
        explicit
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    ).lower()


def _exporters(protocol: str, endpoint: str | None, headers: dict[str, str] | None) -> tuple[Any, Any]:
    """Span and log exporters for ``protocol``; a None endpoint lets them read OTEL_* themselves."""
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return (
            OTLPSpanExporter(endpoint=endpoint, headers=headers),
            OTLPLogExporter(endpoint=endpoint, headers=headers),
        )
    if protocol in ("http", "http/protobuf"):
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        base = endpoint.rstrip("/") if endpoint else None
        return (
            OTLPSpanExporter(endpoint=f"{base}/v1/traces" if base else None, headers=headers),
            OTLPLogExporter(endpoint=f"{base}/v1/logs" if base else None, headers=headers),
        )
    raise ValueError(f"protocol must be 'grpc' or 'http', not {protocol!r}")


def setup(
    service_name: str | None = None,
    version: str | None = None,
    environment: str | None = None,
    *,
    endpoint: str | None = None,
    protocol: str | None = None,
    capture_content: bool | str | None = None,
    instrument: Iterable[str] | str = (),
    headers: dict[str, str] | None = None,
    span_exporter: Any = None,
    log_exporter: Any = None,
    sample_rate: float | None = None,
) -> Any:
    """Send this process's GenAI spans to Driftline (or any OTLP endpoint); returns the TracerProvider.

    Idempotent: a second call changes nothing and returns the same provider. ``protocol`` defaults to
    ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` / ``OTEL_EXPORTER_OTLP_PROTOCOL``, else gRPC; ``endpoint``
    to ``OTEL_EXPORTER_OTLP_ENDPOINT``. ``span_exporter`` / ``log_exporter`` replace the OTLP
    exporters (tests, custom pipelines). ``instrument="auto"`` turns on, for every model SDK and agent
    framework importable here, the best tracing available and logs each choice (see ``frameworks.py``);
    names (``"openai"``, ``"llamaindex"``…) turn on only those. Log records — GenAI content events and
    the ML inference and label events of ``driftline.instrumentation.ml`` — go to the app's SDK
    ``LoggerProvider`` when it has one, else to one created here. ``sample_rate`` keeps that share of
    traces (OTel's parent-based trace-id ratio sampler, so a trace is kept or dropped whole) and
    records the rate on every span (``driftline.sample_rate``), so reports scale counts and totals
    back; ``OTEL_TRACES_SAMPLER=parentbased_traceidratio`` with ``OTEL_TRACES_SAMPLER_ARG`` is
    recorded the same way.
    """
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from driftline.instrumentation import sampling as _sampling

    if sample_rate is not None and not 0 < sample_rate <= 1:
        raise ValueError(f"sample_rate must be in (0, 1], got {sample_rate!r}")
    with _State.lock:
        settings = _settings.load(capture_content)
        _agent.configure(settings)
        if _State.processor is None:
            proto = otlp_protocol(protocol)
            if span_exporter is None:
                span_exporter, otlp_logs = _exporters(proto, endpoint, headers)
                log_exporter = log_exporter or otlp_logs
            current = trace.get_tracer_provider()
            if isinstance(current, TracerProvider):  # the app already has an SDK provider: add to it
                provider = current
                if sample_rate is not None:
                    log.warning("driftline: sample_rate ignored: the app's TracerProvider samples with its own sampler")
            else:
                attrs = {
                    "service.name": service_name,
                    "service.version": version,
                    "deployment.environment.name": environment,
                }
                if version == "git":  # the work tree's `git describe` name (None outside a repository)
                    from driftline.instrumentation.git_version import describe

                    attrs["service.version"] = describe()
                resource = Resource.create({k: v for k, v in attrs.items() if v is not None})
                sampler = _sampling.sampler(sample_rate)
                provider = TracerProvider(resource=resource, **({"sampler": sampler} if sampler else {}))
                trace.set_tracer_provider(provider)
                _State.owns_provider = True
            rate = _sampling.rate_of(provider.sampler)
            if rate is not None and rate < 1:  # every span says the share it stands for
                provider.add_span_processor(_sampling.SampleRateStamp(rate))
            processor = BatchSpanProcessor(span_exporter)
            provider.add_span_processor(processor)
            _State.provider, _State.processor = provider, processor
            if log_exporter is not None:
                _State.logger_provider = _setup_logs(provider, log_exporter)
        for name in _requested(instrument):
            _instrument(name, settings)
        return _State.provider


def _requested(instrument: Iterable[str] | str) -> list[str]:
    """The names ``instrument`` asks for; "auto" means every SDK and framework that is importable."""
    import importlib.util

    from driftline.instrumentation import frameworks

    names = [instrument] if isinstance(instrument, str) else list(instrument)
    if "auto" not in names:
        return names
    sdks = [n for n in INSTRUMENTORS if importlib.util.find_spec(n) is not None]
    return [*sdks, *(f.name for f in frameworks.present()), *(n for n in names if n != "auto")]


def _setup_logs(provider: Any, exporter: Any) -> Any:
    """GenAI content events (EVENT_ONLY / SPAN_AND_EVENT) and ML events travel as OTLP log records."""
    from opentelemetry._logs import get_logger_provider, set_logger_provider
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    current = get_logger_provider()
    logger_provider = current if isinstance(current, LoggerProvider) else LoggerProvider(resource=provider.resource)
    _State.log_processor = BatchLogRecordProcessor(exporter)
    logger_provider.add_log_record_processor(_State.log_processor)
    if logger_provider is not current:
        set_logger_provider(logger_provider)
    return logger_provider


def _instrument(name: str, settings: _settings.Settings) -> None:
    from driftline.instrumentation import frameworks

    if name in _State.instrumentors:
        return
    if name in frameworks.BY_NAME:
        _State.instrumentors[name] = frameworks.instrument(frameworks.BY_NAME[name], _State.provider, settings)
        return
    if name not in INSTRUMENTORS:
        known = sorted([*INSTRUMENTORS, *frameworks.BY_NAME, "auto"])
        raise ValueError(f"unknown instrumentation {name!r}: choose from {', '.join(known)}")
    import importlib

    module, cls = INSTRUMENTORS[name]
    instrumentor = getattr(importlib.import_module(module), cls)()
    instrumentor.instrument(tracer_provider=_State.provider, logger_provider=_State.logger_provider, settings=settings)
    _State.instrumentors[name] = instrumentor


def shutdown() -> None:
    """Flush what is queued and stop exporting (call at exit; safe to call twice)."""
    with _State.lock:
        for turned_on in _State.instrumentors.values():
            for instrumentor in turned_on if isinstance(turned_on, list) else [turned_on]:
                instrumentor.uninstrument()
        _State.instrumentors.clear()
        if _State.processor is not None:
            _State.processor.force_flush()
            _State.processor.shutdown()
        if _State.logger_provider is not None:
            _State.logger_provider.force_flush()
            if _State.log_processor is not None:
                _State.log_processor.shutdown()
        _State.processor = None
        _State.provider = None
        _State.logger_provider = None
        _State.log_processor = None
