"""Run ids as people type them: short unique prefixes out, any unique prefix (or a bare trace id) in.

Why: a run id is ``<trace id>:<span id>`` (49 characters) for an agent run, the trace id for a run
without an agent span. Tables that print it whole are wide, and ones that cut it leave an id no
command accepts. As git does with commits, lists print the shortest prefix (at least ``MIN_SHOWN``
characters) that names one run among all runs of the root, and every command that takes a run id
accepts any prefix that names one run — a bare trace id included, when that trace holds one run.
"""

from __future__ import annotations

from typing import Any

MIN_SHOWN = 12
MAX_LISTED = 5


class RunIdError(ValueError):
    """A prefix that names no run, or several (the message lists some of them)."""


def _common(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def short_ids(con: Any, run_ids: list[str]) -> dict[str, str]:
    """Each of ``run_ids`` mapped to its shortest unique prefix among the root's runs."""
    if not run_ids:
        return {}
    heads = sorted({r[:MIN_SHOWN] for r in run_ids})
    rows = con.execute(
        "SELECT DISTINCT run_id FROM runs WHERE left(run_id, ?) IN (SELECT unnest(?::VARCHAR[]))",
        [MIN_SHOWN, heads],
    ).fetchall()
    by_head: dict[str, list[str]] = {}
    for (other,) in rows:
        by_head.setdefault(other[:MIN_SHOWN], []).append(other)
    out = {}
    for run_id in run_ids:
        longest = max((_common(run_id, o) for o in by_head.get(run_id[:MIN_SHOWN], []) if o != run_id), default=0)
        out[run_id] = run_id[: max(MIN_SHOWN, longest + 1)]
    return out


def resolve(con: Any, prefix: str) -> str:
    """The one run id that starts with ``prefix``; RunIdError when none or several do."""
    given = prefix.strip()
    if not given:
        raise RunIdError("empty run id (list runs with: driftline runs)")
    rows = con.execute(
        "SELECT DISTINCT run_id FROM runs WHERE starts_with(run_id, ?) ORDER BY run_id LIMIT ?",
        [given, MAX_LISTED + 1],
    ).fetchall()
    if any(r[0] == given for r in rows):
        return given
    if not rows:
        raise RunIdError(f"no run {given!r} (list runs with: driftline runs)")
    if len(rows) > 1:
        shown = ", ".join(r[0] for r in rows[:MAX_LISTED]) + (", …" if len(rows) > MAX_LISTED else "")
        raise RunIdError(f"run id {given!r} is ambiguous: it starts {shown}; type more of it")
    return str(rows[0][0])
