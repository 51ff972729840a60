"""A simulated support agent for ``driftline demo``: a scripted, seeded fake LLM, the real
``driftline.instrumentation`` (agent runs, tool calls, and the GenAI call lifecycle the OpenAI and
Anthropic wrappers use), and the real OTLP exporter.

v2.0 is a regression: a new system prompt drops ``search_knowledge_base`` in a share of runs,
escalates more, sends more input tokens, its model calls are slower, and its answers (stored when the
receiver keeps content, as the demo's does) turn curt: the semantic dimension's tone shift. In both versions the order
service times out now and then (a failed tool span and a failed run), so the console and the error
dimensions have something to show; those faults come from their own generator, equally often.
"""

from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass

from driftline.analysis.demo import answers
from driftline.instrumentation import agent
from driftline.instrumentation._invocation import GenAITelemetry, text_hash

MODEL, SNAPSHOT = "gpt-4o-mini", "gpt-4o-mini-2024-07-18"
FAULT_RATE = 0.06  # of lookup_order calls (~40% of runs), so ~2.4% of runs fail, in both versions


@dataclass(frozen=True)
class Behaviour:
    system_prompt: str
    search_rate: float  # share of runs that search the knowledge base
    escalation_rate: float
    input_scale: float
    latency_ms: float  # mean model-call latency
    tone: str = "friendly"  # of the final answer (analysis/demo/answers.py)
    schema_invalid: float = 0.02  # share of answers whose structured part fails its schema check
    confidence: tuple[float, float] = (0.7, 0.95)  # of its response-mode decision


VERSIONS = {
    "v1.0": Behaviour("You are a helpful support agent. Always search the knowledge base first.", 0.92, 0.05, 1.0, 6.0),
    "v2.0": Behaviour(
        "You are a helpful, concise support agent. Answer from what you know; include the full "
        "policy text and order history in every reply.",
        0.65,
        0.17,
        1.35,
        9.0,
        "curt",
        0.08,
        (0.5, 0.85),
    ),
}


class FakeLLM:
    """Scripted chat completions: token counts and latency drawn from a seeded generator."""

    def __init__(self, telemetry: GenAITelemetry, behaviour: Behaviour, rng: random.Random) -> None:
        self.telemetry, self.b, self.rng = telemetry, behaviour, rng

    def chat(self, step: str, wants_tool: str | None, answer: str | None = None, asked: str | None = None) -> None:
        call = self.telemetry.start(
            "chat",
            provider="openai",
            request_model=MODEL,
            attributes={
                "gen_ai.request.temperature": 0.2,
                "gen_ai.request.max_tokens": 800,
                "driftline.prompt.hash": text_hash(self.b.system_prompt),
                "server.address": "api.openai.com",
            },
        )
        time.sleep(max(0.5, self.rng.gauss(self.b.latency_ms, self.b.latency_ms * 0.25)) / 1000)
        call.response_model = SNAPSHOT
        call.response_id = f"chatcmpl-{self.rng.getrandbits(48):x}"
        call.input_tokens = int(self.rng.lognormvariate(6.4, 0.3) * self.b.input_scale)
        call.output_tokens = int(self.rng.lognormvariate(4.6, 0.4))
        call.finish_reasons = ["tool_calls" if wants_tool else "stop"]
        if wants_tool:
            call.tool_names = [wants_tool]
        if answer is not None:
            call.output_messages = [{"role": "assistant", "content": answer}]
        if asked is not None:
            call.input_messages = [{"role": "user", "content": asked}]
        call.stop()


def run_support_agent(version: str, runs: int, seed: int = 7) -> None:
    """Emit ``runs`` support-agent runs of ``version`` through the tracer provider already set up."""
    b = VERSIONS[version]
    rng = random.Random(f"{seed}-{version}")
    llm = FakeLLM(GenAITelemetry(settings=agent._current_settings()), b, rng)  # setup()'s content capture
    faults = random.Random(f"{seed}-{version}-faults")
    texts = random.Random(f"{seed}-{version}-texts")  # questions and answers: their own draws, so the
    # behaviour above is the same with and without content
    semantics = random.Random(f"{seed}-{version}-semantics")  # decisions, signals, memory: their own draws
    for i in range(runs):
        with contextlib.suppress(TimeoutError):  # recorded on the tool and agent spans; next ticket
            _one_run(version, i, b, rng, faults, llm, texts, semantics)


def _one_run(
    version: str,
    i: int,
    b: Behaviour,
    rng: random.Random,
    faults: random.Random,
    llm: FakeLLM,
    texts: random.Random,
    semantics: random.Random,
) -> None:
    """One ticket: classify, maybe search and look up the order, maybe escalate, answer — recording the
    agent's decisions, the answer's schema check, tool failures and its customer memory."""
    tenant = rng.choice(["acme", "globex", "initech"])
    with agent.agent_run(
        "support", version, conversation_id=f"conv-{version}-{i}", attributes={"tenant.id": tenant}
    ) as run:
        plan = ["classify_intent"]
        if rng.random() < b.search_rate:
            plan.append("search_knowledge_base")
        if rng.random() < 0.4:
            plan.append("lookup_order")
        escalate = rng.random() < b.escalation_rate
        if escalate:
            plan.append("escalate_to_human")
        known = semantics.random() < 0.6
        run.memory_read(f"customer:{tenant}", {"tier": "gold"} if known else None, memory_type="profile")
        run.decision(
            "response_mode",
            "escalate" if escalate else "answer",
            candidates=["answer", "escalate"],
            reason="policy" if escalate else "confident",
            confidence=round(semantics.uniform(*b.confidence), 3),
        )
        for tool in plan:
            llm.chat(tool, tool)
            with agent.tool_call(tool, {"ticket": i, "tool": tool}) as call:
                time.sleep(rng.uniform(0.2, 1.5) / 1000)
                if tool == "lookup_order" and faults.random() < FAULT_RATE:
                    run.failure("tool", "timeout", message="order service did not answer within 5 s")
                    raise TimeoutError("order service did not answer within 5 s")
                call.set_result({"ok": True})
        topic = texts.choice(answers.TOPICS)
        reply = answers.answer(texts, topic, b.tone)
        llm.chat("answer", None, reply, answers.question(texts, topic))
        run.signal("output", "schema_valid", semantics.random() >= b.schema_invalid)
        if not known:
            run.memory_write(f"customer:{tenant}", {"tier": "standard", "ticket": i}, memory_type="profile")
        run.final(reply)
        run.set_outcome("escalated" if escalate else "resolved")
