"""Dimensions that moved on the same runs: reported once, under the one that matters most.

Why: several dimensions can measure one change. When an agent stops calling a tool, "Tools called:
search" and "Tool order (bigrams): classify → search" drop on exactly the same runs; "Tool calls per
run" and "LLM→tool rounds" rise and fall together when every round calls one tool. A report that
lists each as its own finding — in the verdict's reasons, its hypotheses and its table — says one
thing two or three times and looks like more evidence than there is.

The rule: two dimensions echo each other when their per-run values (the focus category's indicator,
or the number itself) on the same subsample of runs correlate at ``ECHO_CORRELATION`` or more, in
absolute value, and they share a status. The echo is attached to its leader — the one with the larger
weight, then the earlier in the table — and is still computed, tested and corrected as before: only
how the report words it changes, never a p-value, a status or the score.
"""

from __future__ import annotations

import numpy as np

from driftline.analysis.diff.engine import Comparison

ECHO_CORRELATION = 0.97
_ORDER = ("moved", "negligible", "unchanged")


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    both = np.isfinite(x) & np.isfinite(y)
    if both.sum() < 10:
        return 0.0
    x, y = x[both], y[both]
    sx, sy = x.std(), y.std()
    if sx == 0 or sy == 0:
        return 0.0
    return float(np.mean((x - x.mean()) * (y - y.mean())) / (sx * sy))


def mark(comparison: Comparison) -> None:
    """Set ``echo_of`` on every dimension that moved on the same runs as a more important one."""
    profiles = comparison.profiles
    candidates = [
        (i, r)
        for i, r in enumerate(comparison.results)
        if r.status in _ORDER and r.segment is None and r.name in profiles
    ]
    candidates.sort(key=lambda ir: (_ORDER.index(ir[1].status), -ir[1].weight, ir[0]))
    leaders = []
    for _, r in candidates:
        p = profiles[r.name]
        lead = next(
            (
                lead
                for lead in leaders
                if lead.status == r.status
                and len(profiles[lead.name]) == len(p)
                and abs(_correlation(p, profiles[lead.name])) >= ECHO_CORRELATION
            ),
            None,
        )
        if lead is None:
            leaders.append(r)
        else:
            r.echo_of = lead.name
