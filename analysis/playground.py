"""The playground: send a prompt as a chosen agent version through the configured endpoint, as a run.

Why through OTLP rather than straight into the data: a playground answer is only worth promoting to a
baseline if it is measured exactly like production — the same spans, the same normalizer, the same
run derivation, the same content rules (``--store-content``, PII scrubbing). So each call is an
``invoke_agent {agent}`` span (``gen_ai.agent.version`` = the chosen version, environment
``playground``) around the ``chat`` span of ``llm_endpoint.chat``, exported to a receiver; the run
appears in the data like any other and can be promoted to a named baseline (``baselines.promote``).

``[playground]`` in driftline.toml names the endpoint; each key it leaves out is taken from ``[rca]``,
so a team with a local Ollama for explanations has a playground with no further setup.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Status, StatusCode

from driftline.analysis.explain.config import config_from as rca_config
from driftline.analysis.llm_endpoint import ChatFailed, chat, delivering_tracer

KEYS = ("endpoint", "model", "api_key_env", "timeout", "otlp_endpoint", "system")
ENVIRONMENT = "playground"  # every playground run's deployment.environment.name: never mixed up with prod
MAX_PROMPT = 32_000  # characters of a prompt (and of a system prompt)


@dataclass(frozen=True)
class PlaygroundConfig:
    endpoint: str | None = None
    model: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = 60.0
    otlp_endpoint: str | None = None  # where the runs go (default: the console's receiver, else OTEL_*)
    system: str | None = None  # the system prompt sent unless the request gives one

    @property
    def configured(self) -> bool:
        return bool(self.endpoint and self.model)


def config_from(doc: dict[str, Any] | None) -> PlaygroundConfig:
    """``[playground]`` over ``[rca]``; unknown keys and wrong types are errors naming the key."""
    doc = doc or {}
    section = dict(doc.get("playground") or {})
    unknown = sorted(set(section) - set(KEYS))
    if unknown:
        raise ValueError(f"[playground]: unknown key(s) {', '.join(unknown)}; known: {', '.join(KEYS)}")
    system = section.pop("system", None)
    if system is not None and not isinstance(system, str):
        raise ValueError(f"[playground] system: expected a string, got {system!r}")
    # the same rules as [rca] (URL, positive timeout, strings), with the error naming [playground]
    try:
        own = rca_config(section)
    except ValueError as exc:
        raise ValueError(str(exc).replace("[rca]", "[playground]", 1)) from exc
    rca = rca_config(doc.get("rca"))
    return PlaygroundConfig(
        endpoint=section.get("endpoint") or rca.endpoint,
        model=section.get("model") or rca.model,
        api_key_env=str(section.get("api_key_env") or rca.api_key_env),
        timeout=own.timeout if "timeout" in section else 60.0,
        otlp_endpoint=section.get("otlp_endpoint") or rca.otlp_endpoint,
        system=system,
    )


@dataclass
class PlaygroundRun:
    run_id: str  # as the runs view names it: trace id ':' the invoke_agent span id
    trace_id: str
    agent: str
    version: str
    environment: str
    model: str | None
    prompt: str
    output: str | None
    input_tokens: int | None
    output_tokens: int | None
    duration_ms: float
    error: str | None = None  # why the endpoint gave no answer (the run still landed, as an error)


def send(
    config: PlaygroundConfig,
    prompt: str,
    *,
    agent: str,
    version: str,
    otlp_endpoint: str | None,
    protocol: str | None = None,
    system: str | None = None,
    model: str | None = None,
) -> PlaygroundRun:
    """One call as ``agent`` ``version``. Its spans are exported to ``otlp_endpoint`` (else
    ``OTEL_EXPORTER_OTLP_*``) and acknowledged by the receiver before this returns — whatever the LLM
    endpoint answered, an error included; OSError when the receiver did not take the run."""
    if not config.configured:
        raise ValueError("no endpoint configured: set endpoint and model in [playground] (or [rca]) of driftline.toml")
    if not prompt.strip():
        raise ValueError("the prompt is empty")
    if len(prompt) > MAX_PROMPT or len(system or "") > MAX_PROMPT:
        raise ValueError(f"a prompt holds at most {MAX_PROMPT:,} characters")
    used_model = model or config.model
    assert config.endpoint and used_model
    system = config.system if system is None else system
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    tracer, provider, delivery = delivering_tracer(otlp_endpoint, agent, protocol, ENVIRONMENT)
    attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": agent,
        "gen_ai.agent.id": agent,
        "gen_ai.agent.version": version,
        "driftline.playground": True,
    }
    failure: str | None = None
    with tracer.start_as_current_span(f"invoke_agent {agent}", attributes=attributes) as span:
        context = span.get_span_context()
        trace_id, span_id = f"{context.trace_id:032x}", f"{context.span_id:016x}"
        try:
            reply = chat(
                tracer,
                endpoint=config.endpoint,
                model=used_model,
                messages=messages,
                api_key=os.environ.get(config.api_key_env) or None,
                timeout=config.timeout,
                record_input=True,
            )
        except ChatFailed as exc:
            failure, reply = str(exc), None
            span.set_attribute("driftline.outcome", "error")
            span.set_status(Status(StatusCode.ERROR, failure))
        else:
            span.set_attribute("driftline.outcome", "answered")
    try:
        delivery.deliver()
    finally:
        provider.shutdown()
    return PlaygroundRun(
        run_id=f"{trace_id}:{span_id}",
        trace_id=trace_id,
        agent=agent,
        version=version,
        environment=ENVIRONMENT,
        model=(reply.model if reply else None) or used_model,
        prompt=prompt,
        output=reply.content if reply else None,
        input_tokens=reply.input_tokens if reply else None,
        output_tokens=reply.output_tokens if reply else None,
        duration_ms=round(reply.duration_ms, 1) if reply else 0.0,
        error=failure,
    )
