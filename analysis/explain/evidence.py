"""The facts of a report an explanation may cite, each with an id, and the request built from them.

Why ids: an explanation is only as good as its grounding. The LLM gets the report as a list of facts
(``dimension:tools``, ``hypothesis:tool_dropped``, ``change:prompts``, ``theme:2``, ``cost``,
``performance:f1``), must cite them by id, and an answer citing nothing the report contains is
rejected (``answer.py``) — a fluent explanation of facts that are not there is worse than none.
"""

from __future__ import annotations

from typing import Any

from driftline.analysis.report.format import fmt_ci, fmt_effect, fmt_value, theme_name, what
from driftline.analysis.report.model import Report

MAX_DIMENSIONS = 12  # the moved and negligible ones first; unchanged dimensions are not evidence
TEXT_CHARS = 600  # per representative answer


def facts(report: Report) -> list[dict[str, Any]]:
    """Every citable fact of ``report``, most important first."""
    out: list[dict[str, Any]] = []
    dims = [d for d in report.dimensions if d.status in ("moved", "negligible")]
    for d in dims[:MAX_DIMENSIONS]:
        out.append(
            {
                "id": f"dimension:{d.name}" + (f"@{d.segment}" if d.segment else ""),
                "what": what(d),
                "status": d.status,
                "severity": d.severity,
                "baseline": fmt_value(d.baseline_value, d),
                "candidate": fmt_value(d.candidate_value, d),
                "effect": fmt_effect(d),
                "ci95": fmt_ci(d),
                "p_adjusted": round(d.p_adjusted, 6),
            }
        )
    for d in report.segment_dimensions[:MAX_DIMENSIONS]:
        out.append(
            {
                "id": f"dimension:{d.name}@{d.segment}",
                "what": f"{what(d)} in segment {d.segment}",
                "status": d.status,
                "effect": fmt_effect(d),
                "ci95": fmt_ci(d),
            }
        )
    out += [{"id": f"hypothesis:{h.rule}", "text": h.text} for h in report.hypotheses[:8]]
    out += [{"id": f"change:{c.key}", "text": c.note} for c in report.configuration_changes]
    if report.semantic is not None:
        for t in report.semantic.themes:
            out.append(
                {
                    "id": f"theme:{t.theme}",
                    "theme": theme_name(t),
                    "share_baseline": round(t.share_baseline, 4),
                    "share_candidate": round(t.share_candidate, 4),
                    "change": t.change,
                }
            )
    if report.cost is not None and report.cost.delta_per_10k_runs is not None:
        out.append(
            {
                "id": "cost",
                "text": f"mean cost per run {report.cost.baseline_mean} → {report.cost.candidate_mean} "
                f"{report.cost.currency}; delta per 10,000 runs {report.cost.delta_per_10k_runs:.2f}",
            }
        )
    if report.performance is not None:
        latest = next((w for w in reversed(report.performance.windows) if not w.provisional), None)
        for m in latest.metrics if latest is not None else []:
            out.append(
                {
                    "id": f"performance:{m.name}",
                    "what": f"{m.title}, window {latest.label}",
                    "value": m.value,
                    "baseline": m.baseline,
                    "difference": m.difference,
                    "status": m.status,
                }
            )
    return out


def ids(report: Report) -> set[str]:
    return {f["id"] for f in facts(report)}


def examples(report: Report, count: int) -> dict[str, list[str]]:
    """A few representative answers per side (themes that moved first), when content was stored."""
    if report.semantic is None or count <= 0:
        return {}
    base: list[str] = []
    cand: list[str] = []
    for t in report.semantic.themes:  # already ordered by how much their share moved
        base += [a[:TEXT_CHARS] for a in t.baseline_answers[:1]]
        cand += [a[:TEXT_CHARS] for a in t.candidate_answers[:1]]
    novel = [n.text[:TEXT_CHARS] for n in report.semantic.novel[:1]]
    half = max(1, count // 2)
    return {"baseline": base[:half], "candidate": (novel + cand)[: count - min(half, len(base[:half]))]}


def payload(report: Report, max_texts: int) -> dict[str, Any]:
    """What the LLM is shown: the verdict, the sides, the citable facts and a few answers."""
    v = report.verdict
    return {
        "kind": "model" if report.settings.get("model") else "agent",
        "baseline": {"label": report.baseline.label, report.baseline.unit: report.baseline.runs},
        "candidate": {"label": report.candidate.label, report.candidate.unit: report.candidate.runs},
        "verdict": {
            "verdict": v.verdict,
            "score": round(v.score, 4),
            "score_ci95": [round(v.score_low, 4), round(v.score_high, 4)],
            "reasons": v.reasons,
        },
        "facts": facts(report),
        "examples": examples(report, max_texts),
    }
