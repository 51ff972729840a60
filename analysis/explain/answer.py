"""Validate an LLM's explanation: JSON of the agreed shape, citing only facts the report contains.

Why strict: the explanation sits next to numbers that were corrected and bounded; a summary that
invents a cause, or calls a blocked release harmless, would undo that. Anything that fails here is
replaced by the rule-based explanation, and the report says why.
"""

from __future__ import annotations

import json
import re
from typing import Any

from driftline.analysis.report.model import Cause, Explanation

SEVERITIES = ("low", "medium", "high")
# the severity an explanation may give for each verdict (it may not call a block harmless, nor a
# stable report an emergency)
ALLOWED = {
    "block": {"high", "medium"},
    "review": {"medium", "high", "low"},
    "stable": {"low", "medium"},
    "insufficient": {"low", "medium"},
}
MAX_ITEMS = 8
MAX_TEXT = 2_000
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)

SHAPE = {
    "summary": "two or three sentences on what changed between baseline and candidate",
    "severity": "low | medium | high",
    "causes": [{"cause": "a likely cause, in one sentence", "evidence": ["ids of the facts it rests on"]}],
    "next_steps": ["what to do next, fitted to the severity"],
}


class InvalidAnswer(ValueError):
    """The LLM's answer is not a usable explanation (the message says what was wrong)."""


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidAnswer(f"{what} is missing or not text")
    if len(value) > MAX_TEXT:
        raise InvalidAnswer(f"{what} is longer than {MAX_TEXT} characters")
    return value.strip()


def parse(content: str, known: set[str], verdict: str, model: str) -> Explanation:
    """The explanation in ``content`` (a JSON object, possibly in a Markdown code fence)."""
    fenced = _FENCE.match(content or "")
    try:
        doc = json.loads(fenced.group(1) if fenced else content)
    except (TypeError, ValueError) as exc:
        raise InvalidAnswer(f"the answer is not JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise InvalidAnswer("the answer is not a JSON object")
    summary = _text(doc.get("summary"), "summary")
    severity = doc.get("severity")
    if severity not in SEVERITIES:
        raise InvalidAnswer(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    if severity not in ALLOWED.get(verdict, set(SEVERITIES)):
        raise InvalidAnswer(f"severity {severity!r} contradicts the verdict {verdict!r}")
    raw_causes, steps = doc.get("causes"), doc.get("next_steps")
    if not isinstance(raw_causes, list) or len(raw_causes) > MAX_ITEMS:
        raise InvalidAnswer(f"causes must be a list of at most {MAX_ITEMS}")
    if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_ITEMS:
        raise InvalidAnswer(f"next_steps must be a list of 1 to {MAX_ITEMS}")
    causes = []
    for i, c in enumerate(raw_causes, 1):
        if not isinstance(c, dict):
            raise InvalidAnswer(f"cause {i} is not an object")
        cited = c.get("evidence")
        if not isinstance(cited, list) or not all(isinstance(e, str) for e in cited):
            raise InvalidAnswer(f"cause {i}: evidence must be a list of fact ids")
        grounded = [e for e in cited if e in known]
        if not grounded:
            raise InvalidAnswer(f"cause {i} cites no fact of the report ({', '.join(cited) or 'nothing'})")
        causes.append(Cause(_text(c.get("cause"), f"cause {i}"), grounded))
    if known and not causes and verdict in ("review", "block"):
        raise InvalidAnswer("no cause given for a report where something moved")
    return Explanation(
        source="llm",
        summary=summary,
        severity=severity,
        causes=causes,
        next_steps=[_text(s, f"next step {i}") for i, s in enumerate(steps, 1)],
        model=model,
    )
