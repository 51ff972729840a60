"""Ask an OpenAI-compatible endpoint to explain a report; fall back to the rules when it cannot.

The call is instrumented like any app's (``analysis/llm_endpoint.py``): an ``invoke_agent
driftline-explain`` span around a ``chat`` span with the GenAI semantic conventions, exported over OTLP to
``[rca] otlp_endpoint`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` — point it at a Driftline receiver and the
explainer's own calls are runs of agent ``driftline-explain`` that can be diffed like any other. With
no OTLP endpoint the spans are not exported (nothing is sent anywhere unasked).
"""

from __future__ import annotations

import json
from typing import Any

from driftline.analysis.explain import rules
from driftline.analysis.explain.answer import SHAPE, InvalidAnswer, parse
from driftline.analysis.explain.config import RcaConfig
from driftline.analysis.explain.evidence import ids, payload
from driftline.analysis.llm_endpoint import ChatFailed, chat, tracer_for
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


def _call(config: RcaConfig, report: Report, tracer: Any) -> Explanation:
    assert config.endpoint and config.model
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": json.dumps(payload(report, config.max_texts))},
    ]
    try:
        reply = chat(
            tracer,
            endpoint=config.endpoint,
            model=config.model,
            messages=messages,
            api_key=config.api_key,
            timeout=config.timeout,
            json_mode=True,
            temperature=0,
        )
    except ChatFailed as exc:
        raise ExplainFailed(str(exc)) from exc
    try:
        return parse(reply.content, ids(report), report.verdict.verdict, config.model)
    except InvalidAnswer as exc:
        raise ExplainFailed(f"the answer of {config.model} was not a valid explanation: {exc}") from exc


def explain(report: Report, config: RcaConfig) -> Explanation:
    """The LLM's explanation of ``report``, or the rules' with the reason the LLM's is missing."""
    if not config.configured:
        return rules.explain(report, "no LLM configured ([rca] endpoint and model in driftline.toml)")
    tracer, provider = tracer_for(config.otlp_endpoint, AGENT)
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
