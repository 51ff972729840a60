"""Hypotheses for a model report, from rules kept as data (``hypotheses.toml`` beside this module).

Why separate from the agent rules: a model's findings are about features, the prediction and
performance windows, and the useful readings combine them (the prediction moved *and no feature did*;
accuracy fell *more than the inputs explain*). The conditions are a fixed vocabulary computed here;
which of them speak, and in what words, is data a team can override from driftline.toml
(``[[model_hypothesis]]``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from driftline.analysis.diff.hypotheses import merge_rules
from driftline.analysis.ml import metrics
from driftline.analysis.report.model import DimensionResult, Hypothesis, ModelPerformance
from driftline.collector.schema import FEATURE_PREFIX

RULES_FILE = Path(__file__).parent / "hypotheses.toml"
CONDITIONS = (
    "missing_rate_up",
    "new_categories",
    "prediction_only",
    "population_moved",
    "performance_covariate",
    "performance_concept",
    "performance_segment",
)
_FIELDS = {"id", "when", "text", "enabled"}
NEW_CATEGORY_SHARE = 0.02  # the candidate's share in unseen categories that names a new population
CONCEPT_GAP = 0.02  # realised below the lower end of the estimate's interval by this much: concept drift


def load_rules(overrides: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The shipped model rules with ``[[model_hypothesis]]`` entries replacing or adding by id."""

    def complete(rule: dict[str, Any]) -> str | None:
        ok = rule.get("when") in CONDITIONS and "text" in rule
        return None if ok else f"text and when = one of {', '.join(CONDITIONS)}"

    return merge_rules(RULES_FILE, overrides, "model_hypothesis", _FIELDS, complete)


def _feature(name: str) -> str:
    return name.removeprefix("missing:").removeprefix(FEATURE_PREFIX)


def _worse(m: Any, features: str) -> dict[str, str]:
    """The placeholders of a metric that got worse (a window's or a segment's)."""

    def fmt(x: float | None) -> str:
        return f"{x:.3f}" if x is not None else "n/a"

    return {
        "metric": m.title,
        "moved": "fell" if metrics.BY_NAME[m.name].higher_is_better else "rose",
        "baseline": fmt(m.baseline),
        "value": fmt(m.value),
        "estimated": fmt(m.estimated),
        "features": features or "no feature",
    }


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def findings(
    dims: list[DimensionResult], perf: ModelPerformance | None, segment_dims: list[DimensionResult] | None = None
) -> dict[str, list[tuple[float, dict[str, str]]]]:
    """Each condition that holds, with its evidence (for ranking) and its placeholders."""
    moved = [d for d in dims if d.status == "moved" and d.segment is None]
    features = [d for d in moved if d.name.startswith(FEATURE_PREFIX)]
    names = ", ".join(f"`{_feature(d.name)}`" for d in features[:5]) + (" and more" if len(features) > 5 else "")
    prediction = [d for d in moved if d.name in ("prediction", "prediction_class")]
    out: dict[str, list[tuple[float, dict[str, str]]]] = {c: [] for c in CONDITIONS}
    for d in moved:
        if d.name.startswith("missing:"):
            before = d.baseline_distribution.get("rates", {}).get("missing", 0.0)
            after = d.candidate_distribution.get("rates", {}).get("missing", 0.0)
            if after > before:
                values = {"feature": _feature(d.name), "baseline": _pct(before), "candidate": _pct(after)}
                out["missing_rate_up"].append((d.score + 1, values))
        unseen = d.candidate_distribution.get("unseen_in_baseline")
        if d.kind == "category" and d.name.startswith(FEATURE_PREFIX) and unseen and unseen >= NEW_CATEGORY_SHARE:
            known = {c for c, r in d.baseline_distribution.get("rates", {}).items() if r > 0}
            new = [c for c in d.candidate_distribution.get("rates", {}) if c not in known][:3]
            examples = ", ".join(f"'{c}'" for c in new) or "see the distribution"
            out["new_categories"].append(
                (d.score + 1, {"feature": _feature(d.name), "share": _pct(unseen), "examples": examples})
            )
    if prediction and not features:
        out["prediction_only"].append((max(d.score for d in prediction) + 1, {}))
    if prediction and features:
        out["population_moved"].append((max(d.score for d in prediction), {"features": names}))
    for w in perf.windows if perf else []:  # one hypothesis per window, on its first worse metric
        m = next((m for m in w.metrics if m.status == "worse"), None)
        if m is None:
            continue
        values = {**_worse(m, names), "window": w.label}
        # the inputs explain the fall when the estimate from them (CBPE) fell too: its interval reaches
        # the realised value; concept drift when the realised value is below what the inputs predict
        concept = m.est_low is not None and m.value is not None and m.value < m.est_low - CONCEPT_GAP
        if concept or (not features and m.estimated is not None):
            out["performance_concept"].append((2.0, values))
        elif features:
            out["performance_covariate"].append((1.5, values))
    for w in perf.segments if perf else []:  # a segment whose performance fell, and what moved inside it
        m = next((m for m in w.metrics if m.status == "worse"), None)
        if m is None:
            continue
        inside = [d for d in segment_dims or [] if d.segment == w.label and d.status == "moved"]
        moved_here = [d for d in inside if d.name.startswith(FEATURE_PREFIX)]
        values = {**_worse(m, ", ".join(f"`{_feature(d.name)}`" for d in moved_here[:5])), "segment": w.label}
        out["performance_segment"].append((1.8 if moved_here else 1.2, values))
    return out


def generate(
    rules: list[dict[str, Any]],
    dims: list[DimensionResult],
    perf: ModelPerformance | None,
    segment_dims: list[DimensionResult] | None = None,
) -> list[Hypothesis]:
    """Hypotheses for the conditions that hold, strongest evidence first (``segment_dims``: the
    dimensions compared inside each ``--by`` segment)."""
    found = findings(dims, perf, segment_dims)
    out = []
    for rule in rules:
        for evidence, values in found.get(rule["when"], []):
            out.append(Hypothesis(rule["id"], rule["text"].format_map(_Blank(values)), round(evidence, 4), None))
    return sorted(out, key=lambda h: -h.evidence)


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "n/a"
