"""Durations (``30d``) and points in time (``7d`` ago, or an ISO date) as users write them.

Why one module: ``--since``, ``--older-than``, a schedule's window and a diff's side all read the same
spellings; a second parser would accept a spelling the first one refuses.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def duration(value: str) -> timedelta:
    """``30d``, ``12h``, ``15m``, ``45s``, ``2w``."""
    m = DURATION.match(value.strip())
    if not m:
        raise ValueError(f"cannot read duration {value!r}: use a number and s, m, h, d or w (e.g. 30d)")
    return timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})


def is_duration(value: str) -> bool:
    return DURATION.match(value.strip()) is not None


def when(value: str | None, now: datetime | None = None) -> datetime | None:
    """A point in time: a duration ago (``7d``) or an ISO date/time (UTC unless it says otherwise)."""
    if value is None or value == "":
        return None
    now = now or datetime.now(UTC)
    if is_duration(value):
        return now - duration(value)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise ValueError(f"cannot read time {value!r}: use a duration like 7d, 12h, 30m, or an ISO date") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
