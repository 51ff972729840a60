"""The agent-semantics events of a span (``instrumentation/semantics.py``) as typed ``agent_events`` rows.

Why typed and not left in the span's events JSON: decisions, signals, failures and memory operations are
aggregated per run for every diff, and parsing JSON out of every span's attribute map would cost seconds
per million spans; a list-of-struct column costs nothing where it is empty. The event names and attribute
keys are the instrumentation's (one home for the convention); this module only maps them to the struct.
"""

from __future__ import annotations

from typing import Any

from driftline.instrumentation import semantics as sem

NAMES = frozenset({sem.DECISION, sem.SIGNAL, sem.FAILURE, sem.MEMORY_READ, sem.MEMORY_WRITE, sem.FINAL_ANSWER})


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _float(value: Any) -> float | None:
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        return None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def row(name: str, time_ns: int, attrs: dict[str, Any]) -> dict[str, Any]:
    """The ``agent_events`` struct of one event (``attrs``: its attributes, content already taken out)."""
    prefix = "driftline.memory" if name in (sem.MEMORY_READ, sem.MEMORY_WRITE) else name
    a = {k.removeprefix(prefix + "."): v for k, v in attrs.items() if k.startswith(prefix + ".")}
    candidates = a.get("candidates")
    return {
        "name": name.removeprefix("driftline."),
        "time": time_ns,
        "kind": _str(a.get("type")),
        "label": _str(a.get("selected", a.get("code", a.get("key")))),
        "candidates": [str(c) for c in candidates] if isinstance(candidates, list | tuple) else None,
        "reason": _str(a.get("reason")),
        "confidence": _float(a.get("confidence")),
        "value": _bool(a.get("value", a.get("found", a.get("overwrite")))),
        "weight": _float(a.get("weight")),
        "ref": _str(a.get("step")),
        "hash": _str(a.get("message.hash", a.get("value.hash", a.get("hash")))),
        "chars": _int(a.get("message.chars", a.get("value.chars", a.get("chars")))),
    }
