"""Always-valid p-values for monitoring: a mixture sequential probability ratio test (mSPRT).

Why: a scheduled report that compares a growing candidate window against a fixed baseline every hour
looks at the same question again and again; a fixed-sample test at 5% each time raises a false alarm
far more often than 5% over the monitoring period. The mSPRT (Robbins 1970; Johari, Pekelis & Walsh,
"Always valid inference", 2017) mixes the likelihood ratio of a normal mean difference over a normal
prior N(0, tau^2) on the effect:

    Lambda_n = sqrt(V / (V + tau^2)) * exp(tau^2 * d^2 / (2 V (V + tau^2)))

with d the observed difference and V its variance; p_n = min(p_{n-1}, 1 / Lambda_n) is valid at every
look, however many. Metrics: the error rate, the baseline's outcome and tool-presence rates, and the
means of log(1 + x) of tokens, latency and cost; Bonferroni across metrics keeps the family at alpha.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

RATE_TAU = 0.05  # mixing scale for a rate difference: changes of a few points
LOG_MEAN_TAU = 0.10  # for a difference of mean log(1 + x): changes of ~10%
NUMERIC = ("input_tokens", "output_tokens", "duration_ms", "cost")


def msprt_p(difference: float, variance: float, tau: float) -> float:
    """1 / Lambda for one look (before taking the running minimum)."""
    if not (variance > 0) or not math.isfinite(difference):
        return 1.0
    t2 = tau * tau
    log_lambda = 0.5 * math.log(variance / (variance + t2)) + t2 * difference**2 / (2 * variance * (variance + t2))
    return float(min(1.0, math.exp(-log_lambda))) if log_lambda > 0 else 1.0


@dataclass
class Metric:
    name: str
    kind: str  # rate | log_mean
    values_a: np.ndarray  # per-run values of the baseline (0/1 for a rate)


def _rate(values: Sequence[Any], predicate: Any) -> np.ndarray:
    return np.fromiter((1.0 if predicate(v) else 0.0 for v in values), dtype=float, count=len(values))


def metrics(baseline: Mapping[str, Sequence[Any]], top: int = 3) -> list[Metric]:
    """The metrics monitored for a baseline: fixed once, from the baseline alone."""
    out = []
    status = list(baseline.get("status", []))
    if status:
        out.append(Metric("error rate", "rate", _rate(status, lambda s: s == "ERROR")))
    outcomes = [o for o in baseline.get("outcome", []) if o is not None]
    for value, _ in sorted({o: outcomes.count(o) for o in set(outcomes)}.items(), key=lambda kv: -kv[1])[:top]:
        out.append(Metric(f"outcome {value}", "rate", _rate(list(baseline["outcome"]), lambda o, v=value: o == v)))
    sequences = [list(s or []) for s in baseline.get("tool_sequence", [])]
    tools = sorted({t for s in sequences for t in s})
    for tool in tools:
        share = sum(tool in s for s in sequences) / max(len(sequences), 1)
        if 0.0 < share < 1.0 or len(sequences) == 0:
            out.append(Metric(f"calls {tool}", "rate", _rate(sequences, lambda s, t=tool: t in s)))
    for column in NUMERIC:
        if column in baseline:
            x = np.asarray([np.nan if v is None else float(v) for v in baseline[column]], dtype=float)
            x = np.log1p(np.clip(x[~np.isnan(x)], 0, None))
            if len(x) > 1:
                out.append(Metric(f"log mean {column}", "log_mean", x))
    return out


def candidate_values(metric: Metric, candidate: Mapping[str, Sequence[Any]]) -> np.ndarray:
    name = metric.name
    if name == "error rate":
        return _rate(list(candidate.get("status", [])), lambda s: s == "ERROR")
    if name.startswith("outcome "):
        value = name[len("outcome ") :]
        return _rate(list(candidate.get("outcome", [])), lambda o: o == value)
    if name.startswith("calls "):
        tool = name[len("calls ") :]
        return _rate([list(s or []) for s in candidate.get("tool_sequence", [])], lambda s: tool in s)
    column = name[len("log mean ") :]
    x = np.asarray([np.nan if v is None else float(v) for v in candidate.get(column, [])], dtype=float)
    return np.log1p(np.clip(x[~np.isnan(x)], 0, None))


def look(metric: Metric, b: np.ndarray) -> float:
    """1 / Lambda for the candidate values seen so far."""
    a = metric.values_a
    if len(a) < 2 or len(b) < 2:
        return 1.0
    d = float(b.mean() - a.mean())
    if metric.kind == "rate":
        pooled = (a.sum() + b.sum()) / (len(a) + len(b))
        variance = pooled * (1 - pooled) * (1 / len(a) + 1 / len(b))
        return msprt_p(d, variance, RATE_TAU)
    variance = float(a.var(ddof=1)) / len(a) + float(b.var(ddof=1)) / len(b)
    return msprt_p(d, variance, LOG_MEAN_TAU)


def update(
    baseline: Mapping[str, Sequence[Any]], candidate: Mapping[str, Sequence[Any]], previous: Mapping[str, float] | None
) -> dict[str, float]:
    """Always-valid p-values after this look: the running minimum over all looks so far."""
    previous = previous or {}
    return {
        m.name: min(float(previous.get(m.name, 1.0)), look(m, candidate_values(m, candidate)))
        for m in metrics(baseline)
    }


def rejected(pvalues: Mapping[str, float], alpha: float = 0.05) -> list[str]:
    """Metrics whose always-valid p-value is below alpha / (number of metrics)."""
    m = max(len(pvalues), 1)
    return sorted(name for name, p in pvalues.items() if p <= alpha / m)
