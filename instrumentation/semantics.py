"""What an agent run means, beyond its spans: decisions, quality signals, failures, memory, the answer.

Why span events with a fixed attribute convention: a decision ("which tool?"), a quality signal
("the output parsed"), a failure ("the retriever timed out") or a memory read/write happens at an
instant inside a step, so it is an event of the span that is current when it happens (the run's own
span, or the tool or model call inside it). Events travel in the same OTLP export as their span, so
nothing new has to be configured, and any OpenTelemetry backend shows them.

Values stay in the process unless content capture is on: memory values and failure messages are
sent as SHA-256 hashes and lengths only; the final answer's text is sent only with content capture
(as ``driftline.final_answer.text``, which the receiver treats as content). Codes, reasons, types and
selected options are labels compared across versions, so their cardinality is bounded: declare the
allowed values with ``declare()``, or free strings are accepted up to ``MAX_DISTINCT`` per field, after
which further values are recorded as ``(other)`` (and a warning is logged once).

Convention (event name → attributes):

- ``driftline.decision``: ``driftline.decision.type`` (``tool_selection``, ``retry_strategy``,
  ``response_mode``…), ``.selected``, ``.candidates`` (string list), ``.reason``, ``.confidence`` (0 to 1)
- ``driftline.signal``: ``driftline.signal.type``, ``.code``, ``.value`` (bool), ``.weight``
- ``driftline.failure``: ``driftline.failure.type`` (``tool``, ``model``, ``retrieval``,
  ``orchestration``, ``other``), ``.code`` (``timeout``, ``schema_invalid``…), ``.step`` (the span id of
  the step that caused it), ``.message.hash``, ``.message.chars``
- ``driftline.memory.read`` / ``driftline.memory.write``: ``driftline.memory.key``, ``.type``,
  ``.value.hash``, ``.value.chars``, ``.found`` (read), ``.overwrite`` (write: the key held a value)
- ``driftline.final_answer``: ``driftline.final_answer.hash``, ``.chars`` (``.text`` with capture)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span

from driftline.instrumentation import _invocation as inv

log = logging.getLogger(__name__)

DECISION = "driftline.decision"
SIGNAL = "driftline.signal"
FAILURE = "driftline.failure"
MEMORY_READ = "driftline.memory.read"
MEMORY_WRITE = "driftline.memory.write"
FINAL_ANSWER = "driftline.final_answer"
FINAL_ANSWER_TEXT = "driftline.final_answer.text"  # content: the receiver hashes and stores it like any output
FAILURE_TYPES = ("tool", "model", "retrieval", "orchestration", "other")
OTHER = "(other)"
MAX_DISTINCT = 100  # free-string values kept per field before they become "(other)"
MAX_CANDIDATES = 50


class Labels:
    """The bounded vocabulary of each label field: declared enums, else the first MAX_DISTINCT values."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._declared: dict[str, frozenset[str]] = {}
        self._seen: dict[str, set[str]] = {}
        self._warned: set[str] = set()

    def declare(self, field: str, values: Iterable[str]) -> None:
        with self._lock:
            self._declared[field] = frozenset(str(v) for v in values)

    def bounded(self, field: str, value: Any) -> str | None:
        """``value`` as a label of ``field``: itself when declared or within the cap, else "(other)"."""
        if value is None:
            return None
        text = str(value)
        with self._lock:
            declared = self._declared.get(field)
            if declared is not None:
                if text in declared:
                    return text
            else:
                seen = self._seen.setdefault(field, set())
                if text in seen:
                    return text
                if len(seen) < MAX_DISTINCT:
                    seen.add(text)
                    return text
            if field not in self._warned:
                self._warned.add(field)
                what = "is not declared" if declared is not None else f"is beyond the first {MAX_DISTINCT} values"
                log.warning("driftline: %s value %r %s: recorded as %s", field, text[:80], what, OTHER)
        return OTHER

    def reset(self) -> None:
        with self._lock:
            self._declared.clear()
            self._seen.clear()
            self._warned.clear()


LABELS = Labels()


def declare(field: str, values: Iterable[str]) -> None:
    """Allowed values of a label field, e.g. ``declare("decision.reason", ["cheaper", "faster"])``.
    Fields: ``decision.type``, ``decision.selected``, ``decision.reason``, ``signal.type``,
    ``signal.code``, ``failure.code``, ``memory.type``."""
    LABELS.declare(field, values)


def _attrs(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}.{k}": v for k, v in values.items() if v is not None}


def decision(
    span: Span,
    type: str,
    selected: str,
    candidates: Sequence[str] | None = None,
    reason: str | None = None,
    confidence: float | None = None,
) -> None:
    if confidence is not None and not 0.0 <= float(confidence) <= 1.0:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence!r}")
    chosen = [str(c) for c in candidates or ()][:MAX_CANDIDATES]
    attrs = _attrs(
        "driftline.decision",
        {
            "type": LABELS.bounded("decision.type", type),
            "selected": LABELS.bounded("decision.selected", selected),
            "candidates": [LABELS.bounded("decision.selected", c) for c in chosen] if chosen else None,
            "reason": LABELS.bounded("decision.reason", reason),
            "confidence": float(confidence) if confidence is not None else None,
        },
    )
    span.add_event(DECISION, attrs)


def signal(span: Span, type: str, code: str, value: bool, weight: float = 1.0) -> None:
    attrs = _attrs(
        "driftline.signal",
        {
            "type": LABELS.bounded("signal.type", type),
            "code": LABELS.bounded("signal.code", code),
            "value": bool(value),
            "weight": float(weight),
        },
    )
    span.add_event(SIGNAL, attrs)


def failure(span: Span, type: str, code: str, message: str | None = None, step: Span | str | None = None) -> None:
    if type not in FAILURE_TYPES:
        raise ValueError(f"failure type must be one of {', '.join(FAILURE_TYPES)}, not {type!r}")
    if isinstance(step, str):
        step_id = step
    else:
        context = (step or trace.get_current_span()).get_span_context()
        step_id = format(context.span_id, "016x") if context.is_valid else None
    digest, chars = inv.content_hash(message) if message is not None else (None, None)
    attrs = _attrs(
        "driftline.failure",
        {
            "type": type,
            "code": LABELS.bounded("failure.code", code),
            "step": step_id,
            "message.hash": digest,
            "message.chars": chars,
        },
    )
    span.add_event(FAILURE, attrs)


def memory(span: Span, op: str, key: str, value: Any, memory_type: str | None, flag: bool) -> None:
    """A memory read (``flag``: a value was found) or write (``flag``: the key already held one)."""
    digest, chars = inv.content_hash(value) if value is not None else (None, None)
    attrs = _attrs(
        "driftline.memory",
        {
            "key": str(key),
            "type": LABELS.bounded("memory.type", memory_type),
            "value.hash": digest,
            "value.chars": chars,
            "found" if op == MEMORY_READ else "overwrite": flag,
        },
    )
    span.add_event(op, attrs)


def final_answer(span: Span, answer: Any, capture: bool) -> None:
    text = answer if isinstance(answer, str) else inv.canonical_json(answer)
    attrs: dict[str, Any] = {f"{FINAL_ANSWER}.hash": inv.text_hash(text), f"{FINAL_ANSWER}.chars": len(text)}
    if capture:
        attrs[FINAL_ANSWER_TEXT] = text
    span.add_event(FINAL_ANSWER, attrs)
