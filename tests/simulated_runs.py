"""Run-level samples with known differences, for the statistical-honesty tests and bench_power.py.

Shaped like the ``runs`` view of a support agent: outcome, status, tool sequence, models, tokens,
cost, latency. Each keyword injects one shift; the defaults give A/A data.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def runs(
    n: int,
    rng: np.random.Generator,
    *,
    tokens: float = 1.0,
    llm_latency: float = 1.0,
    escalation: float = 0.05,
    search_rate: float = 0.9,
    model: str = "gpt-4o-mini",
    tail: float = 1.0,
    retries: float = 0.05,
) -> dict[str, Any]:
    calls = rng.integers(2, 5, n)
    search = rng.random(n) < search_rate
    lookup = rng.random(n) < 0.4
    escalated = rng.random(n) < escalation
    seq = []
    for s, lk, e in zip(search, lookup, escalated, strict=True):
        tools = ["classify_intent"]
        if s:
            tools.append("search_knowledge_base")
        if lk:
            tools.append("lookup_order")
        if e:
            tools.append("escalate_to_human")
        seq.append(tools)
    input_tokens = np.round(rng.lognormal(6.4, 0.35, n) * calls * tokens)
    output_tokens = np.round(rng.lognormal(4.6, 0.4, n) * calls * tokens)
    llm_time = rng.lognormal(6.0, 0.35, n) * calls * llm_latency
    tool_time = rng.lognormal(4.0, 0.5, n) * calls
    duration = llm_time + tool_time
    if tail != 1.0:  # the slowest 10% of runs (above the distribution's own p90) get slower
        duration = np.where(duration > TRUE_DURATION_P90, duration * tail, duration)
    errors = rng.random(n) < 0.03
    return {
        "outcome": np.where(escalated, "escalated", "resolved").tolist(),
        "status": np.where(errors, "ERROR", "OK").tolist(),
        "error_types": [["TimeoutError"] if e else [] for e in errors],
        "finish_reasons": [["tool_calls", "stop"]] * n,
        "tool_sequence": seq,
        "models": [[model]] * n,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cost": (input_tokens * 0.15 + output_tokens * 0.6) / 1e6,
        "duration_ms": duration,
        "llm_time_ms": llm_time,
        "time_to_first_tool_ms": rng.lognormal(5.5, 0.3, n),
        "output_chars": rng.lognormal(6.5, 0.4, n),
        "llm_calls": calls,
        "tool_calls": np.asarray([len(s) for s in seq]),
        "loop_count": np.asarray([len(s) for s in seq]),
        "retries": rng.poisson(retries, n),
    }


def _true_duration_p90() -> float:
    """The 90th percentile of a default run's duration (fixed seed, 400k draws: exact to <0.5%)."""
    rng = np.random.default_rng(12345)
    n = 400_000
    calls = rng.integers(2, 5, n)
    d = rng.lognormal(6.0, 0.35, n) * calls + rng.lognormal(4.0, 0.5, n) * calls
    return float(np.quantile(d, 0.9))


TRUE_DURATION_P90 = _true_duration_p90()

SCENARIOS: dict[str, tuple[int, dict[str, Any], float]] = {
    # name: (runs per side, candidate shift, power the issue requires)
    "tokens +30%": (200, {"tokens": 1.3}, 0.95),
    "LLM latency +43%": (200, {"llm_latency": 1.43}, 0.95),
    "model swap": (200, {"model": "claude-3-5-haiku"}, 0.95),
    "escalation 5% -> 17%": (200, {"escalation": 0.17}, 0.85),
    "tool dropped 90% -> 80%": (500, {"search_rate": 0.8}, 0.90),
    "slowest 10% +30% (p95)": (1000, {"tail": 1.3}, 0.90),
}


def detected(n: int, shift: dict[str, Any], seed: int, settings: Any = None) -> tuple[str, dict[str, Any]]:
    """Verdict of one simulated diff (baseline from defaults, candidate with ``shift``)."""
    from driftline.analysis.diff.engine import StatSettings, compare, correct, verdict

    settings = settings or StatSettings(bootstrap=200, seed=seed)
    rng = np.random.default_rng(seed)
    a, b = runs(n, rng), runs(n, rng, **shift)
    comparison = compare(a, b, settings)
    correct(comparison.results, settings)
    return verdict(comparison, settings, n, n).verdict, {r.name: r for r in comparison.results}
