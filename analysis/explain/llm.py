"""Ask an OpenAI-compatible endpoint to explain a report; fall back to the rules when it cannot.

The call is instrumented like any app's: an ``invoke_agent driftline-explain`` span around a ``chat``
span with the GenAI semantic conventions (model, tokens, finish reasons, errors), exported over OTLP to
``[rca] otlp_endpoint`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` — point it at a Driftline receiver and the
explainer's own calls are runs of agent ``driftline-explain`` that can be diffed like any other. With
no OTLP endpoint the spans are not exported (nothing is sent anywhere unasked).
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from driftline.analysis.explain import rules
from driftline.analysis.explain.answer import SHAPE, InvalidAnswer, parse
from driftline.analysis.explain.config import RcaConfig
from driftline.analysis.explain.evidence import ids, payload
from driftline.analysis.report.model import Explanation, Report

AGENT = "driftline-explain"
SYSTEM = (
    "You explain a drift report that compares a baseline and a candidate version of an LLM agent or a "
    "machine-learning model. The report's statistics are already corrected for multiple testing: take its "
    "verdict and facts as given, do not recompute them. Drift means behaviour changed, not that it broke; "
    "say so where it matters. Reply with one JSON object and nothing else, of this shape: "
    + json.dumps(SHAPE)
    + ". In 'evidence', cite facts only by their 'id' as given in the report. Severity follows the verdict: "
    "block is high (or medium), review is medium (low or high when the facts say so), stable is low. "
    "Fit the next steps to the severity."
)


class ExplainFailed(RuntimeError):
    """The endpoint could not give a valid explanation; the message says why, for the report."""


def _tracer(config: RcaConfig) -> tuple[Any, Any]:
    endpoint = config.otlp_endpoint or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    endpoint = endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint:
        return trace.NoOpTracer(), None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from driftline.instrumentation import _exporters

    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "grpc"
    ).lower()
    exporter, _ = _exporters(protocol, endpoint, None)
    provider = TracerProvider(resource=Resource.create({"service.name": AGENT}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider.get_tracer("driftline.explain"), provider


def _call(config: RcaConfig, report: Report, tracer: Any) -> Explanation:
    try:
        import httpx
    except ImportError as exc:
        raise ExplainFailed("explanations need httpx: pip install 'driftline[rca]'") from exc
    assert config.endpoint and config.model
    url = config.endpoint.rstrip("/") + "/chat/completions"
    doc = payload(report, config.max_texts)
    body = {
        "model": config.model,
        "temperature": 0,
        "response_format": {"type": "json_object"},
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": json.dumps(doc)}],
    }
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    where = urlsplit(url)
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": config.model,
        "gen_ai.request.temperature": 0.0,
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": SYSTEM}]),
        "server.address": where.hostname or "",
        "server.port": where.port or (443 if where.scheme == "https" else 80),
    }
    with tracer.start_as_current_span(f"chat {config.model}", kind=SpanKind.CLIENT, attributes=attributes) as span:
        try:
            response = httpx.post(url, json=body, headers=headers, timeout=config.timeout)
        except httpx.TimeoutException as exc:
            span.set_attribute("error.type", "timeout")
            span.set_status(Status(StatusCode.ERROR, "timeout"))
            raise ExplainFailed(f"{config.endpoint} did not answer within {config.timeout:g} s") from exc
        except httpx.HTTPError as exc:
            span.set_attribute("error.type", type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR, str(exc)))
            raise ExplainFailed(f"{config.endpoint} is unreachable ({type(exc).__name__}: {exc})") from exc
        if response.status_code >= 400:
            span.set_attribute("error.type", str(response.status_code))
            span.set_status(Status(StatusCode.ERROR, f"HTTP {response.status_code}"))
            raise ExplainFailed(f"{config.endpoint} answered HTTP {response.status_code}")
        try:
            answer = response.json()
            choice = answer["choices"][0]
            content = choice["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            span.set_attribute("error.type", "invalid_response")
            raise ExplainFailed(f"{config.endpoint} answered something that is not a chat completion") from exc
        usage = answer.get("usage") or {}
        for key, name in (("prompt_tokens", "input_tokens"), ("completion_tokens", "output_tokens")):
            if isinstance(usage.get(key), int):
                span.set_attribute(f"gen_ai.usage.{name}", usage[key])
        if answer.get("model"):
            span.set_attribute("gen_ai.response.model", str(answer["model"]))
        if choice.get("finish_reason"):
            span.set_attribute("gen_ai.response.finish_reasons", [str(choice["finish_reason"])])
        message = [{"role": "assistant", "parts": [{"type": "text", "content": str(content)}]}]
        span.set_attribute("gen_ai.output.messages", json.dumps(message))
    try:
        return parse(str(content), ids(report), report.verdict.verdict, config.model)
    except InvalidAnswer as exc:
        raise ExplainFailed(f"the answer of {config.model} was not a valid explanation: {exc}") from exc


def explain(report: Report, config: RcaConfig) -> Explanation:
    """The LLM's explanation of ``report``, or the rules' with the reason the LLM's is missing."""
    if not config.configured:
        return rules.explain(report, "no LLM configured ([rca] endpoint and model in driftline.toml)")
    tracer, provider = _tracer(config)
    attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": AGENT, "gen_ai.agent.version": "1"}
    try:
        with tracer.start_as_current_span(f"invoke_agent {AGENT}", attributes=attributes) as run:
            try:
                explanation = _call(config, report, tracer)
            except ExplainFailed as exc:
                run.set_attribute("driftline.outcome", "fallback")
                return rules.explain(report, str(exc))
            run.set_attribute("driftline.outcome", "explained")
            return explanation
    finally:
        if provider is not None:
            provider.shutdown()  # flush: the run is exported before the command returns
