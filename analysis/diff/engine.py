"""Compare two samples of runs, dimension by dimension: test, effect with CI, correction, score, verdict.

Why this shape: every dimension gets the test that fits its type (``stats.significance``), an effect
size in units people act on (percentage points of a rate, % change of a median, mean or p95) with an
interval (a score interval for rates, a bootstrap for the rest), and then one correction across all
dimensions (weighted Holm by default). A dimension *moves* only when it is significant after
correction AND its whole interval lies beyond the dimension's floor; significant but inside the
floor is "detectable but negligible".

The bootstrap resamples runs, with one set of resampling indices per side shared by all dimensions,
so the same replicates give every dimension's interval and the composite score's interval. Sides
larger than ``max_bootstrap_side`` are subsampled and the replicate spread is rescaled to the full
size (m-out-of-n bootstrap), which keeps a warm diff of 100k runs per side well under a second.
How each dimension is measured lives in ``measures.py``; this module decides.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.analysis.diff.dimensions import DIMENSIONS, Dimension, available, encode
from driftline.analysis.diff.measures import Resampler, categorical, numeric, run_order
from driftline.analysis.report.format import titled
from driftline.analysis.report.model import DimensionResult, Verdict
from driftline.analysis.semantic.drift import measure as semantic_measure
from driftline.analysis.stats.significance import (
    adjust,
    weighted_holm,
)

Columns = Mapping[str, Sequence[Any]]
PARALLEL_ROWS = 200_000  # both sides together, from which dimensions are measured on every core


@dataclass(frozen=True)
class StatSettings:
    """The documented decision thresholds (``[stats]`` in driftline.toml)."""

    alpha: float = 0.05  # family-wise error rate (Holm) or false discovery rate (BH)
    correction: str = "holm"  # holm (weighted by dimension weight) | bh
    min_runs: int = 30  # per side (and per segment) below which no verdict is given
    bootstrap: int = 400  # resamples for effect and score intervals
    max_bootstrap_side: int = 1000  # larger sides are subsampled (m-out-of-n, rescaled)
    block_score: float = 0.5  # a composite score whose lower CI bound reaches this blocks
    seed: int = 0
    dimensions: tuple[Dimension, ...] = DIMENSIONS

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError("alpha must be between 0 and 1")
        if self.correction not in ("holm", "bh"):
            raise ValueError("correction must be 'holm' or 'bh'")
        if self.min_runs < 2 or self.bootstrap < 50:
            raise ValueError("min_runs must be >= 2 and bootstrap >= 50")


@dataclass
class Comparison:
    results: list[DimensionResult]
    replicates: dict[str, np.ndarray] = field(default_factory=dict)  # per dimension: score replicates
    profiles: dict[str, np.ndarray] = field(default_factory=dict)  # per dimension: values per run (see echoes)


def _dimension_score(effect: np.ndarray | float, dim: Dimension) -> np.ndarray:
    """Drift beyond the floor, as a share of the way to the block threshold, in [0, 1]."""
    e = np.abs(np.nan_to_num(np.asarray(effect, dtype=float), nan=0.0, posinf=dim.block, neginf=dim.block))
    return np.clip((e - dim.floor) / (dim.block - dim.floor), 0.0, 1.0)


def compare(baseline: Columns, candidate: Columns, settings: StatSettings, segment: str | None = None) -> Comparison:
    """Raw per-dimension results (before correction) and score replicates for one pair of samples."""
    n_a = len(next(iter(baseline.values()), ()))
    n_b = len(next(iter(candidate.values()), ()))
    results: list[DimensionResult] = []
    replicates: dict[str, np.ndarray] = {}
    profiles: dict[str, np.ndarray] = {}
    if n_a == 0 or n_b == 0:
        return Comparison(results)
    rs = Resampler(n_a, n_b, settings, run_order(baseline), run_order(candidate))
    dims = [d for d in settings.dimensions if available(d, baseline) and available(d, candidate)]

    def measure(dim: Dimension) -> dict[str, Any]:
        enc = encode(dim, baseline, candidate)
        if dim.kind == "semantic":
            return semantic_measure(enc.a, enc.b, settings.bootstrap, settings.seed)
        return numeric(dim, enc.a, enc.b, rs) if dim.kind == "numeric" else categorical(dim, enc, rs)

    if n_a + n_b >= PARALLEL_ROWS and len(dims) > 1:  # sorts, merges and resampling release the GIL
        with ThreadPoolExecutor(min(len(dims), os.cpu_count() or 1)) as pool:
            outs = list(pool.map(measure, dims))
    else:
        outs = [measure(dim) for dim in dims]
    for dim, out in zip(dims, outs, strict=True):
        common = {
            "name": dim.name,
            "title": dim.title,
            "kind": dim.kind,
            "unit": dim.unit,
            "weight": dim.weight,
            "floor": dim.floor,
            "block": dim.block,
            "n_baseline": n_a,
            "n_candidate": n_b,
            "segment": segment,
        }
        if out.get("status") == "no data":
            results.append(
                DimensionResult(
                    **common,
                    test="none (no values)",
                    statistic=0.0,
                    p_value=1.0,
                    p_adjusted=1.0,
                    effect_name="none",
                    effect=0.0,
                    ci_low=0.0,
                    ci_high=0.0,
                    focus=None,
                    baseline_value=None,
                    candidate_value=None,
                    distance=0.0,
                    score=0.0,
                    status="no data",
                )
            )
            continue
        test = out["test"]
        results.append(
            DimensionResult(
                **common,
                test=test.method,
                statistic=float(test.statistic),
                p_value=float(test.p_value),
                p_adjusted=float(test.p_value),
                effect_name=out["effect_name"],
                effect=float(out["effect"]),
                ci_low=out["ci"][0],
                ci_high=out["ci"][1],
                focus=out["focus"],
                baseline_value=out["values"][0],
                candidate_value=out["values"][1],
                distance=out["distance"],
                score=float(_dimension_score(out["effect"], dim)),
                baseline_distribution=out["dist"][0],
                candidate_distribution=out["dist"][1],
            )
        )
        replicates[dim.name] = _dimension_score(out["reps"], dim)
        if "profile" in out:
            profiles[dim.name] = out["profile"]
    return Comparison(results, replicates, profiles)


def correct(results: list[DimensionResult], settings: StatSettings) -> None:
    """Adjust p-values across ``results`` (one family) and classify each dimension."""
    tested = [r for r in results if r.status != "no data"]
    p = [r.p_value for r in tested]
    adjusted = weighted_holm(p, [r.weight for r in tested]) if settings.correction == "holm" else adjust(p, "bh")
    for r, q in zip(tested, adjusted, strict=True):
        r.p_adjusted = q
        significant = q <= settings.alpha
        clears_floor = r.ci_low > r.floor or r.ci_high < -r.floor
        if significant and clears_floor:
            r.status = "moved"
            r.severity = "block" if (r.ci_low > r.block or r.ci_high < -r.block) else "review"
        elif significant:
            r.status = "negligible"
        else:
            r.status = "unchanged"


def composite(comparison: Comparison) -> tuple[float, float, float]:
    """Weighted mean of the dimensions' drift scores, with a percentile interval from the replicates."""
    tested = [r for r in comparison.results if r.status != "no data" and r.name in comparison.replicates]
    if not tested:
        return 0.0, 0.0, 0.0
    w = np.asarray([r.weight for r in tested])
    point = float(np.dot(w, [r.score for r in tested]) / w.sum())
    reps = np.vstack([comparison.replicates[r.name] for r in tested])
    combined = w @ reps / w.sum()
    low, high = np.quantile(combined, [0.025, 0.975])
    return point, float(min(low, point)), float(max(high, point))


# dimensions that describe behaviour rather than measure quality (issue: agent semantics)
DESCRIPTIVE = frozenset({"decisions", "decision_confidence", "signals", "failures", "memory_reads", "memory_writes"})


def verdict(comparison: Comparison, settings: StatSettings, n_a: int, n_b: int, unit: str = "runs") -> Verdict:
    """stable / review / block, or insufficient with the number of runs (``unit``) still needed per side."""
    score, low, high = composite(comparison)
    needed = {
        side: settings.min_runs - n for side, n in (("baseline", n_a), ("candidate", n_b)) if n < settings.min_runs
    }
    if needed:
        parts = [
            f"the {side} has {n} {unit}; {needed[side]} more needed"
            for side, n in (("baseline", n_a), ("candidate", n_b))
            if side in needed
        ]
        return Verdict(
            "insufficient",
            score,
            low,
            high,
            [f"Too few {unit} for a verdict (minimum {settings.min_runs} per side): " + "; ".join(parts) + "."],
            [f"Collect more {unit} (or widen the window with --since / --last) and run the diff again."],
            needed,
        )
    moved = [r for r in comparison.results if r.status == "moved"]
    blocking = [r for r in moved if r.severity == "block"]
    if blocking or (moved and low >= settings.block_score):
        name = "block"
        reasons = [f"{t} moved beyond its block threshold" for t in titled(blocking)] or [
            f"composite drift score {score:.2f} (95% CI {low:.2f}–{high:.2f}) reaches {settings.block_score}"
        ]
        steps = [
            "Do not promote the candidate until the changes below are understood or accepted.",
            "If the change is intended, record the candidate as the new baseline: driftline baseline set VERSION.",
        ]
    elif moved:
        name = "review"
        reasons = [f"{t} moved (significant after correction, effect beyond its floor)" for t in titled(moved)]
        steps = [
            "Review the hypotheses below against the release notes of the candidate.",
            "Inspect example runs with: driftline runs --version VERSION, then driftline inspect RUN_ID.",
        ]
    else:
        name = "stable"
        negligible = titled([r for r in comparison.results if r.status == "negligible"])
        reasons = ["No dimension moved beyond its minimal effect of interest."]
        if negligible:
            reasons.append("Detectable but negligible: " + ", ".join(negligible) + ".")
        steps = ["Nothing to do."]
    described = [r.title for r in moved if r.name in DESCRIPTIVE]
    if described:  # AgentTracer's rule: these say the agent behaves differently, not that it got worse
        reasons.append(
            f"{', '.join(described)}: drift here means the agent behaves differently (it decides, observes or "
            "fails differently), not that it broke; whether the change is better is for you to judge."
        )
    return Verdict(name, score, low, high, reasons, steps)
