"""The explanation written from the report itself: what every report gets when no LLM can answer."""

from __future__ import annotations

from driftline.analysis.report.model import Cause, Explanation, Report

SEVERITY = {"block": "high", "review": "medium", "stable": "low", "insufficient": "low"}


def explain(report: Report, reason: str) -> Explanation:
    """Summary from the verdict's reasons, causes from the ranked hypotheses (each citing its
    dimension and the configuration changes it points at), next steps from the verdict."""
    v = report.verdict
    causes = []
    for h in report.hypotheses[:3]:
        cited = [f"hypothesis:{h.rule}"]
        if h.dimension:
            cited.append(f"dimension:{h.dimension}")
        cited += [f"change:{c}" for c in h.cites]
        causes.append(Cause(h.text, cited))
    summary = f"{v.verdict.upper()} (drift score {v.score:.2f}). " + " ".join(v.reasons[:3])
    return Explanation(
        source="rules",
        summary=summary.strip(),
        severity=SEVERITY.get(v.verdict, "low"),
        causes=causes,
        next_steps=list(v.next_steps),
        fallback_reason=reason,
    )
