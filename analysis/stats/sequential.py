"""Monitoring over repeated looks: an mSPRT for a growing candidate, a CUSUM for rolling windows.

Why two methods: a scheduled report looks at the same question again and again; a fixed-sample test
at 5% each time raises a false alarm far more often than 5% over the monitoring period.

*A growing candidate* (a version since its first run, or a window whose start is fixed)
against a fixed baseline is one sample that grows: the mSPRT's always-valid p-value applies to it.
The mSPRT (Robbins 1970; Johari, Pekelis & Walsh,
"Always valid inference", 2017) mixes the likelihood ratio of a normal mean difference over a normal
prior N(0, tau^2) on the effect:

    Lambda_n = sqrt(V / (V + tau^2)) * exp(tau^2 * d^2 / (2 V (V + tau^2)))

with d the observed difference and V its variance; p_n = min(p_{n-1}, 1 / Lambda_n) is valid at every
look, however many — but only for the same growing sample: the runner keys it on (baseline,
candidate) and never carries it across candidates or rolling windows.

*A rolling window* (``1h``: each look sees a different hour) is a new sample at every look; the
minimum of per-window p-values is not a p-value. Each look's new runs give a standardized difference
z_k per metric, accumulated by a two-sided CUSUM (S_k = max(0, S_{k-1} + |z_k| - 1/2) per direction,
Page 1954), and the alarm threshold of each look is set by *alpha spending over a horizon of H looks*
(Lan & DeMets 1983): P(first alarm at look k | no change) = alpha / (m H), so the probability of any
false alarm over the H looks is at most alpha (m metrics, Bonferroni). The thresholds are computed by
Monte Carlo from the looks' actual sizes, including the correlation the shared baseline gives every
z_k (corr = (1/n_a) / sqrt((1/n_a + 1/n_j)(1/n_a + 1/n_k))): a fixed CUSUM threshold from a table
would ignore it and alarm too often. After H looks a new period starts: the stated rate is "at most
alpha per H looks" (24 hourly looks: per day).

Metrics: the error rate, the baseline's outcome and tool-presence rates, and the means of
log(1 + x) of tokens, latency and cost; Bonferroni across metrics keeps the family at alpha.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

CUSUM_DRIFT = 0.5  # the CUSUM's reference value, in z units: tuned to shifts of ~1 SE per look
HORIZON = 24  # looks per monitoring period of a rolling window (hourly: one day)
MC_PATHS = 200_000  # Monte Carlo paths that set the thresholds (>= ~40 exceedances per look at 5%/(10*24))
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


MIN_EXPECTED = 5.0  # a rate's new runs are held until they expect this many of each kind (normal approx.)


def z_score(metric: Metric, total: float, count: int) -> float:
    """Standardized difference of new candidate runs (their sum and count) from the baseline."""
    a = metric.values_a
    if len(a) < 2 or count < 1:
        return 0.0
    d = total / count - float(a.mean())
    if metric.kind == "rate":
        pooled = (a.sum() + total) / (len(a) + count)
        variance = pooled * (1 - pooled) * (1 / len(a) + 1 / count)
    else:
        variance = float(a.var(ddof=1)) * (1 / len(a) + 1 / count)  # the baseline's spread, as under no change
    return d / math.sqrt(variance) if variance > 0 else 0.0


def ready(metric: Metric, total: float, count: int) -> bool:
    """Enough new runs for one CUSUM step: a rate needs MIN_EXPECTED expected runs of each kind (a
    z from 25 runs of a 3% rate is far from normal: its tail is where false alarms come from)."""
    if count < 2:
        return False
    if metric.kind != "rate":
        return True
    a = metric.values_a
    pooled = (a.sum() + total) / (len(a) + count)
    return count * min(pooled, 1 - pooled) >= MIN_EXPECTED


def _cusum(s_plus: float, s_minus: float, z: np.ndarray | float) -> tuple[Any, Any]:
    return np.maximum(0.0, s_plus + z - CUSUM_DRIFT), np.maximum(0.0, s_minus - z - CUSUM_DRIFT)


@functools.lru_cache(maxsize=4)
def _normals(looks: int, paths: int) -> tuple[np.ndarray, np.ndarray]:
    """The Monte Carlo's standard normals, drawn once per process with a fixed seed: the baseline's
    shared error per path, and each look's own error. Fixed, so a threshold depends only on the
    looks' sizes and is the same in every process that recomputes it."""
    rng = np.random.default_rng(20_240_601)
    return rng.standard_normal(paths).astype(np.float32), rng.standard_normal((looks, paths)).astype(np.float32)


@functools.lru_cache(maxsize=1024)
def threshold(
    n_a: int, sizes: tuple[int, ...], previous: tuple[float, ...], alpha_look: float, paths: int = MC_PATHS
) -> float:
    """The CUSUM threshold of look k = len(sizes): among Monte Carlo paths (no change; the looks' sizes;
    the shared baseline) that did not cross the ``previous`` thresholds, the value that a share
    ``alpha_look`` of all paths first exceeds at look k. The paths of look k extend those of look
    k - 1 (the same normals), so the alpha spent over the looks adds up exactly."""
    k = len(sizes)
    common, own = _normals(max(k, HORIZON), paths)
    s_plus = np.zeros(paths, dtype=np.float32)
    s_minus = np.zeros(paths, dtype=np.float32)
    alive = np.ones(paths, dtype=bool)
    inv_a = 1.0 / max(n_a, 1)
    for j, n in enumerate(sizes):
        inv_b = 1.0 / max(int(n), 1)
        z = (math.sqrt(inv_a) * common + math.sqrt(inv_b) * own[j]) / math.sqrt(inv_a + inv_b)
        s_plus, s_minus = _cusum(s_plus, s_minus, z)
        if j < k - 1:
            alive &= np.maximum(s_plus, s_minus) <= previous[j]
    stat = np.maximum(s_plus, s_minus)[alive]
    budget = round(alpha_look * paths)
    if budget < 1:
        return float("inf")
    if len(stat) <= budget:
        return 0.0
    return float(np.partition(stat, len(stat) - budget - 1)[len(stat) - budget - 1])


def rolling_update(
    baseline: Mapping[str, Sequence[Any]],
    new_candidate: Mapping[str, Sequence[Any]],
    state: Mapping[str, Any] | None,
    key: str,
    *,
    alpha: float = 0.05,
    horizon: int = HORIZON,
) -> tuple[dict[str, Any], list[str]]:
    """One look of the rolling-window monitor: each metric's new runs (``new_candidate``: only the runs
    since the previous look) join its pending ones; once there are enough for a normal approximation
    they make one CUSUM step against that step's threshold. Returns the new state and the metrics that
    alarm for the first time in this period. ``state`` is what the previous look returned (None: a new
    period); a period ends after ``horizon`` looks, and the alpha of looks a metric skipped is unspent
    (conservative)."""
    state = dict(state or {})
    if state.get("looks", 0) >= horizon or state.get("key") != key:
        state = {}
    looks = int(state.get("looks", 0)) + 1
    ms = metrics(baseline)
    alpha_look = alpha / max(len(ms), 1) / horizon
    old = state.get("metrics", {})
    alarmed = set(state.get("alarmed", []))
    out: dict[str, Any] = {}
    newly = []
    for m in ms:
        prev = old.get(m.name, {"n": [], "c": [], "s": [0.0, 0.0], "pending": [0.0, 0]})
        b = candidate_values(m, new_candidate)
        total, count = prev["pending"][0] + float(b.sum()), int(prev["pending"][1]) + len(b)
        entry = {**prev}
        if ready(m, total, count):
            z = z_score(m, total, count)
            s_plus, s_minus = (float(x) for x in _cusum(prev["s"][0], prev["s"][1], z))
            sizes = (*prev["n"], count)
            c = threshold(len(m.values_a), sizes, tuple(prev["c"]), alpha_look)
            entry = {"n": list(sizes), "c": [*prev["c"], c], "s": [s_plus, s_minus], "pending": [0.0, 0], "z": z}
            if max(s_plus, s_minus) > c and m.name not in alarmed:
                newly.append(m.name)
        else:
            entry["pending"] = [total, count]
        out[m.name] = entry
    new_state = {
        "method": "cusum",
        "key": key,
        "looks": looks,
        "horizon": horizon,
        "metrics": out,
        "alarmed": sorted(alarmed | set(newly)),
    }
    return new_state, sorted(newly)
