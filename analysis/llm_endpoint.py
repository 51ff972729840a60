"""One instrumented call to an OpenAI-compatible chat endpoint, for Driftline's own LLM features.

Why one home: the explainer (``--explain``) and the playground both call an endpoint the user
configured (a local Ollama or vLLM, or a hosted API), and both must be traced like any app — a
``chat`` span with the GenAI semantic conventions (model, tokens, finish reason, errors) under the
caller's ``invoke_agent`` span — so their calls land as runs in a Driftline receiver and can be
diffed like any other agent. The HTTP call, its failure modes and the span attributes live here.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode


class ChatFailed(RuntimeError):
    """The endpoint gave no usable answer; the message says why in one line, for the user."""


@dataclass(frozen=True)
class ChatReply:
    content: str
    model: str | None  # the model that answered, as the endpoint names it
    input_tokens: int | None
    output_tokens: int | None
    finish_reason: str | None
    duration_ms: float


def target(otlp_endpoint: str | None, protocol: str | None) -> tuple[str, str] | None:
    """(endpoint, protocol) from the arguments, else the standard ``OTEL_EXPORTER_OTLP_*`` variables."""
    endpoint = otlp_endpoint or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    endpoint = endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint:
        return None
    from driftline.instrumentation import otlp_protocol

    return endpoint, otlp_protocol(protocol)


def _provider(service_name: str, environment: str | None) -> Any:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    attributes = {"service.name": service_name}
    if environment:
        attributes["deployment.environment.name"] = environment
    return TracerProvider(resource=Resource.create(attributes))


def tracer_for(otlp_endpoint: str | None, service_name: str) -> tuple[Any, Any]:
    """(tracer, provider to shut down) exporting in the background to ``otlp_endpoint`` (else
    ``OTEL_EXPORTER_OTLP_*``); with no endpoint anywhere, a no-op tracer: nothing is sent anywhere unasked."""
    found = target(otlp_endpoint, None)
    if found is None:
        return trace.NoOpTracer(), None
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from driftline.instrumentation import _exporters

    exporter, _ = _exporters(found[1], found[0], None)
    provider = _provider(service_name, None)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider.get_tracer("driftline"), provider


def _delivery(exporter: Any, endpoint: str) -> Any:
    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.sdk.trace.export import SpanExportResult

    class Delivery(SpanProcessor):
        """Keeps a run's spans and exports them in one request when asked, so the caller learns whether
        the receiver acknowledged them (a batch processor would only log a failure)."""

        def __init__(self) -> None:
            self.spans: list[Any] = []

        def on_end(self, span: Any) -> None:
            self.spans.append(span)

        def shutdown(self) -> None:
            exporter.shutdown()

        def deliver(self) -> None:
            """Export the kept spans; OSError when the receiver did not acknowledge them."""
            if exporter.export(self.spans) != SpanExportResult.SUCCESS:
                raise OSError(f"the receiver at {endpoint} did not acknowledge the run")

    return Delivery()


def delivering_tracer(
    otlp_endpoint: str | None, service_name: str, protocol: str | None, environment: str | None
) -> tuple[Any, Any, Any]:
    """(tracer, provider, delivery) for one run whose arrival the caller confirms with
    ``delivery.deliver()``; ValueError when there is nowhere to send it."""
    found = target(otlp_endpoint, protocol)
    if found is None:
        raise ValueError("nowhere to send the run: no OTLP endpoint configured")
    from driftline.instrumentation import _exporters

    exporter, _ = _exporters(found[1], found[0], None)
    delivery = _delivery(exporter, found[0])
    provider = _provider(service_name, environment)
    provider.add_span_processor(delivery)
    return provider.get_tracer("driftline"), provider, delivery


def _messages_attribute(messages: list[dict[str, str]]) -> str:
    return json.dumps([{"role": m["role"], "parts": [{"type": "text", "content": m["content"]}]} for m in messages])


def chat(
    tracer: Any,
    *,
    endpoint: str,
    model: str,
    messages: list[dict[str, str]],
    api_key: str | None,
    timeout: float,
    json_mode: bool = False,
    temperature: float | None = None,
    record_input: bool = False,
) -> ChatReply:
    """Send ``messages`` (``{"role", "content"}``) and return the answer, inside a ``chat`` span.

    ``record_input`` puts the non-system messages on the span (``gen_ai.input.messages``; a receiver
    keeps them only with ``--store-content``); system messages always go to
    ``gen_ai.system_instructions``. Raises :class:`ChatFailed` on a timeout, a transport error, an
    HTTP error status or an answer that is not a chat completion."""
    try:
        import httpx
    except ImportError as exc:
        raise ChatFailed("calling an LLM endpoint needs httpx: pip install 'driftline[rca]'") from exc
    url = endpoint.rstrip("/") + "/chat/completions"
    body: dict[str, Any] = {"model": model, "messages": messages}
    if temperature is not None:
        body["temperature"] = temperature
    if json_mode:
        body["response_format"] = {"type": "json_object"}
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    where = urlsplit(url)
    system = [m for m in messages if m["role"] == "system"]
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        "server.address": where.hostname or "",
        "server.port": where.port or (443 if where.scheme == "https" else 80),
    }
    if temperature is not None:
        attributes["gen_ai.request.temperature"] = float(temperature)
    if system:
        attributes["gen_ai.system_instructions"] = json.dumps(
            [{"type": "text", "content": m["content"]} for m in system]
        )
    if record_input:
        attributes["gen_ai.input.messages"] = _messages_attribute([m for m in messages if m["role"] != "system"])
    started = time.perf_counter()
    with tracer.start_as_current_span(f"chat {model}", kind=SpanKind.CLIENT, attributes=attributes) as span:
        try:
            response = httpx.post(url, json=body, headers=headers, timeout=timeout)
        except httpx.TimeoutException as exc:
            span.set_attribute("error.type", "timeout")
            span.set_status(Status(StatusCode.ERROR, "timeout"))
            raise ChatFailed(f"{endpoint} did not answer within {timeout:g} s") from exc
        except httpx.HTTPError as exc:
            span.set_attribute("error.type", type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR, str(exc)))
            raise ChatFailed(f"{endpoint} is unreachable ({type(exc).__name__}: {exc})") from exc
        if response.status_code >= 400:
            span.set_attribute("error.type", str(response.status_code))
            span.set_status(Status(StatusCode.ERROR, f"HTTP {response.status_code}"))
            raise ChatFailed(f"{endpoint} answered HTTP {response.status_code}")
        try:
            answer = response.json()
            choice = answer["choices"][0]
            content = choice["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            span.set_attribute("error.type", "invalid_response")
            span.set_status(Status(StatusCode.ERROR, "invalid response"))
            raise ChatFailed(f"{endpoint} answered something that is not a chat completion") from exc
        usage = answer.get("usage") or {}
        tokens = {}
        for key, name in (("prompt_tokens", "input_tokens"), ("completion_tokens", "output_tokens")):
            if isinstance(usage.get(key), int) and not isinstance(usage.get(key), bool):
                tokens[name] = usage[key]
                span.set_attribute(f"gen_ai.usage.{name}", usage[key])
        if answer.get("model"):
            span.set_attribute("gen_ai.response.model", str(answer["model"]))
        finish = str(choice["finish_reason"]) if choice.get("finish_reason") else None
        if finish:
            span.set_attribute("gen_ai.response.finish_reasons", [finish])
        text = "" if content is None else str(content)
        span.set_attribute("gen_ai.output.messages", _messages_attribute([{"role": "assistant", "content": text}]))
    return ChatReply(
        content=text,
        model=str(answer["model"]) if answer.get("model") else None,
        input_tokens=tokens.get("input_tokens"),
        output_tokens=tokens.get("output_tokens"),
        finish_reason=finish,
        duration_ms=(time.perf_counter() - started) * 1000,
    )
