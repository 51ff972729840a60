"""What makes a run *slow*, defined once.

`driftline runs --slow`, the API's `runs?slow=true` and the console's Slow filter must mark the same
runs, so they share this yardstick: the 95th percentile of the durations of **all** the version's runs,
not of the runs a filter left. Filtering by outcome or agent must not move the bar (a p95 taken within
"escalated" runs would call a different set of runs slow on every filter).
"""

from __future__ import annotations

SLOW_DEFINITION = "slow = above the 95th percentile of its version's run durations"


def p95_by_version_sql(source: str = "runs") -> str:
    """A query giving `version, slow_ms` (the threshold) per version of `source` (a table or a subquery)."""
    return f"SELECT version, quantile_cont(duration_ms, 0.95) AS slow_ms FROM {source} GROUP BY version"
