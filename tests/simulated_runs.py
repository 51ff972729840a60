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
    semantics: bool = False,
    api_share: float = 0.65,
    schema_invalid: float = 0.02,
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
    columns = _semantics(n, rng, api_share, schema_invalid) if semantics else {}
    return columns | {
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


def _semantics(n: int, rng: np.random.Generator, api_share: float, schema_invalid: float) -> dict[str, Any]:
    """What the agent-semantics API records per run (``runs`` columns): one tool-selection decision
    (``api`` or ``cache``), one schema check, a tool failure in 3% of runs, and memory reads and writes."""
    api = rng.random(n) < api_share
    invalid = rng.random(n) < schema_invalid
    failed = rng.random(n) < 0.03
    return {
        "decisions": [["tool_selection=api" if x else "tool_selection=cache"] for x in api],
        "signals": [["schema_valid=false" if x else "schema_valid=true"] for x in invalid],
        "failures": [["tool/timeout"] if x else [] for x in failed],
        "memory_reads": rng.poisson(2.0, n),
        "memory_writes": rng.poisson(1.0, n),
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
    # agent semantics (issue 18): both sides record decisions and signals
    "tool_selection api 65% -> 50%": (500, {"semantics": True, "api_share": 0.50}, 0.90),
    "schema_invalid 2% -> 8%": (500, {"semantics": True, "schema_invalid": 0.08}, 0.85),  # a rare rate, as escalation
}


def detected(n: int, shift: dict[str, Any], seed: int, settings: Any = None) -> tuple[str, dict[str, Any]]:
    """Verdict of one simulated diff (baseline from defaults, candidate with ``shift``)."""
    from driftline.analysis.diff.engine import StatSettings, compare, correct, verdict

    settings = settings or StatSettings(bootstrap=200, seed=seed)
    rng = np.random.default_rng(seed)
    a, b = runs(n, rng, semantics=bool(shift.get("semantics"))), runs(n, rng, **shift)
    comparison = compare(a, b, settings)
    correct(comparison.results, settings)
    return verdict(comparison, settings, n, n).verdict, {r.name: r for r in comparison.results}


def run_spans(
    rng: np.random.Generator, agent: str, version: str, start_ns: int, *, escalation: float = 0.05
) -> list[dict[str, Any]]:
    """The spans of one simulated agent run as the normalizer writes them (SPAN_SCHEMA rows): the
    agent span with its outcome, one model call with tokens, and its tool calls."""
    trace = f"{rng.integers(0, 2**63):016x}{rng.integers(0, 2**63):016x}"
    root = f"{rng.integers(0, 2**63):016x}"
    escalated = rng.random() < escalation
    tools = ["classify_intent"] + (["search_knowledge_base"] if rng.random() < 0.9 else [])
    tools += (["lookup_order"] if rng.random() < 0.4 else []) + (["escalate_to_human"] if escalated else [])
    llm_ms = float(rng.lognormal(6.0, 0.35))
    tool_ms = [float(rng.lognormal(4.0, 0.5)) for _ in tools]
    total_ms = llm_ms + sum(tool_ms)
    ns = 1_000_000
    common = {"trace_id": trace, "service_name": "support", "environment": "sim", "agent_version": version}
    error = rng.random() < 0.03
    spans = [
        {
            **common,
            "span_id": root,
            "name": f"invoke_agent {agent}",
            "status_code": "ERROR" if error else "OK",
            "error_type": "TimeoutError" if error else None,
            "operation": "invoke_agent",
            "agent_name": agent,
            "outcome": "escalated" if escalated else "resolved",
            "start_time": start_ns,
            "end_time": start_ns + int(total_ms * ns),
            "duration_ms": total_ms,
        },
        {
            **common,
            "span_id": f"{rng.integers(0, 2**63):016x}",
            "parent_span_id": root,
            "name": "chat gpt-4o-mini",
            "status_code": "OK",
            "operation": "chat",
            "provider": "openai",
            "request_model": "gpt-4o-mini",
            "response_model": "gpt-4o-mini-2024-07-18",
            "input_tokens": int(rng.lognormal(6.4, 0.35)),
            "output_tokens": int(rng.lognormal(4.6, 0.4)),
            "start_time": start_ns,
            "end_time": start_ns + int(llm_ms * ns),
            "duration_ms": llm_ms,
        },
    ]
    t = start_ns + int(llm_ms * ns)
    for tool, ms in zip(tools, tool_ms, strict=True):
        spans.append(
            {
                **common,
                "span_id": f"{rng.integers(0, 2**63):016x}",
                "parent_span_id": root,
                "name": f"execute_tool {tool}",
                "status_code": "OK",
                "operation": "execute_tool",
                "tool_name": tool,
                "start_time": t,
                "end_time": t + int(ms * ns),
                "duration_ms": ms,
            }
        )
        t += int(ms * ns)
    for s in spans:
        s["received_at"] = s["end_time"]
    return spans


def write_spans(root: Any, spans: list[dict[str, Any]], name: str) -> None:
    """Write span rows as the sink lays them out: one Parquet file per hour partition."""
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    from driftline.collector.schema import SPAN_SCHEMA

    by_hour: dict[str, list[dict[str, Any]]] = {}
    for s in spans:
        hour = np.datetime64(int(s["start_time"]), "ns").astype("datetime64[h]").astype(str)  # 2026-06-03T10
        by_hour.setdefault(hour, []).append(s)
    for hour, rows in by_hour.items():
        part = Path(root) / "spans" / f"date={hour[:10]}" / f"hour={hour[11:13]}"
        part.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=SPAN_SCHEMA), part / f"{name}.parquet")


# Interval coverage: each case is a dimension, how its two sides are drawn, and the true effect.
COVERAGE_CASES: dict[str, tuple[str, float, float]] = {
    # name: (dimension, baseline parameter, candidate parameter)
    "rate 30% -> 35%": ("outcome", 0.30, 0.35),
    "rare rate 3% -> 5%": ("status", 0.03, 0.05),
    "rare rate 2% -> 2%": ("error_types", 0.02, 0.02),
    "median +10%": ("time_to_first_tool_ms", 1.0, 1.10),
}


def _coverage_side(n: int, rng: np.random.Generator, params: dict[str, float]) -> dict[str, Any]:
    return {
        "outcome": np.where(rng.random(n) < params["outcome"], "escalated", "resolved").tolist(),
        "status": np.where(rng.random(n) < params["status"], "ERROR", "OK").tolist(),
        "error_types": [["TimeoutError"] if e else [] for e in rng.random(n) < params["error_types"]],
        "time_to_first_tool_ms": rng.lognormal(5.5, 0.3, n) * params["time_to_first_tool_ms"],
    }


def coverage(n: int, sims: int, seed0: int = 0) -> dict[str, float]:
    """Share of simulated diffs (``n`` runs per side, default settings: above 1,000 runs the
    m-out-of-n bootstrap) whose 95% interval holds the true effect, per case."""
    from driftline.analysis.diff.dimensions import configured
    from driftline.analysis.diff.engine import StatSettings, compare

    names = {dim for dim, _, _ in COVERAGE_CASES.values()}
    dims = tuple(d for d in configured() if d.name in names)
    base = {dim: a for dim, a, _ in COVERAGE_CASES.values()}
    cand = {dim: b for dim, _, b in COVERAGE_CASES.values()}
    hits = dict.fromkeys(COVERAGE_CASES, 0)
    for s in range(sims):
        rng = np.random.default_rng(seed0 + s)
        a, b = _coverage_side(n, rng, base), _coverage_side(n, rng, cand)
        results = {r.name: r for r in compare(a, b, StatSettings(dimensions=dims, seed=s)).results}
        for case, (dim, pa_, pb_) in COVERAGE_CASES.items():
            r = results[dim]
            if dim == "time_to_first_tool_ms":
                truth = pb_ / pa_ - 1
            else:  # a rate: the effect is about the focus category (the rarer one on a tie)
                truth = (pb_ - pa_) * (1 if r.focus in ("escalated", "ERROR", "TimeoutError") else -1)
            hits[case] += r.ci_low <= truth <= r.ci_high
    return {case: h / sims for case, h in hits.items()}
