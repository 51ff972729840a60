"""Plain-English hypotheses from rules kept as data (``hypotheses.toml``, overridable in driftline.toml).

Why data, not code: teams know their agents' failure modes; adding "refund tool dropped → check the
refund policy prompt" should be a few lines of TOML, not a patch. Hypotheses are ranked by evidence:
the dimension's weight, how far beyond its floor it moved, and how strongly significant it is.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from driftline.analysis.report.format import fmt_effect, fmt_value
from driftline.analysis.report.model import ConfigChange, DimensionResult, Hypothesis

RULES_FILE = Path(__file__).parent / "hypotheses.toml"
_FIELDS = {"id", "dimension", "config", "direction", "label", "text", "cites", "enabled", "evidence"}


def merge_rules(
    rules_file: Path,
    overrides: list[dict[str, Any]] | None,
    section: str,
    fields: set[str],
    complete: Callable[[dict[str, Any]], str | None],
) -> list[dict[str, Any]]:
    """The rules shipped in ``rules_file`` with ``[[section]]`` entries from driftline.toml replacing or
    adding by id (``enabled = false`` removes one); ``complete`` says what a merged rule lacks, or None.
    One loader for the agent rules and the model rules: the same override semantics everywhere."""
    rules = {r["id"]: r for r in tomllib.loads(rules_file.read_text())["rule"]}
    for i, entry in enumerate(overrides or []):
        unknown = sorted(set(entry) - fields)
        if unknown or "id" not in entry:
            raise ValueError(f"[[{section}]] entry {i + 1}: needs an id; unknown field(s): {', '.join(unknown) or '-'}")
        if entry.get("enabled", True) is False:
            rules.pop(entry["id"], None)
            continue
        merged = {**rules.get(entry["id"], {}), **entry}
        lacking = complete(merged)
        if lacking:
            raise ValueError(f"[[{section}]] {entry['id']}: needs {lacking}")
        rules[entry["id"]] = merged
    return list(rules.values())


def load_rules(overrides: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The shipped rules with ``[[hypothesis]]`` entries from driftline.toml replacing or adding by id."""

    def complete(rule: dict[str, Any]) -> str | None:
        ok = "text" in rule and ("dimension" in rule or "config" in rule)
        return None if ok else "text and a dimension or config"

    from driftline.analysis import plugins

    return merge_rules(RULES_FILE, [*plugins.rules(), *(overrides or [])], "hypothesis", _FIELDS, complete)


def evidence(dim: DimensionResult) -> float:
    strength = min(10.0, -math.log10(max(dim.p_adjusted, 1e-10)))
    return round(dim.weight * max(dim.score, 0.05) * strength, 4)


def _direction_ok(direction: str, delta: float) -> bool:
    return direction == "any" or (direction == "up" and delta > 0) or (direction == "down" and delta < 0)


def generate(
    rules: list[dict[str, Any]],
    dimensions: list[DimensionResult],
    config_changes: list[ConfigChange],
    extras: dict[str, str],
    step_attribution: Callable[[], dict[str, str]] | None = None,
) -> list[Hypothesis]:
    """Hypotheses for the moved dimensions and configuration changes, best evidence first."""
    by_name = {d.name: d for d in dimensions if d.segment is None}
    changes_by_key = {c.key: c for c in config_changes}
    out: list[Hypothesis] = []
    for rule in rules:
        if "config" in rule:
            for change in config_changes:
                if change.kind == rule["config"]:
                    text = rule["text"].format_map(_Blank(config=change.note))
                    out.append(Hypothesis(rule["id"], text, float(rule.get("evidence", 1.0)), None, [change.note]))
            continue
        dim = by_name.get(rule["dimension"])
        if dim is None or dim.status != "moved" or dim.echo_of is not None:  # an echo: its leader's hypothesis says it
            continue
        base, cand, focus = dim.baseline_value, dim.candidate_value, dim.focus
        if rule.get("label") is not None:
            label = rule["label"]
            base = dim.baseline_distribution.get("rates", {}).get(label, 0.0)
            cand = dim.candidate_distribution.get("rates", {}).get(label, 0.0)
            if abs(cand - base) <= dim.floor:
                continue
            focus, delta = label, cand - base
        else:
            delta = dim.effect
        if not _direction_ok(rule.get("direction", "any"), delta):
            continue
        values = dict(extras)
        values.update(
            focus=focus or "",
            baseline=fmt_value(base, dim),
            candidate=fmt_value(cand, dim),
            effect=fmt_effect(dim),
            title=dim.title,
        )
        if "{step" in rule["text"] and step_attribution is not None:
            values.update(step_attribution())
        cites = [changes_by_key[k].note for k in rule.get("cites", []) if k in changes_by_key]
        text = rule["text"].format_map(_Blank(values))
        out.append(Hypothesis(rule["id"], text, evidence(dim), dim.name, cites))
    return _cite_once(sorted(out, key=lambda h: -h.evidence))


def _cite_once(ranked: list[Hypothesis]) -> list[Hypothesis]:
    """Quote each configuration change in full once, in the first (strongest) hypothesis citing it;
    later ones point back to it by number, so a prompt change does not repeat under every line."""
    first: dict[str, int] = {}
    for number, h in enumerate(ranked, 1):
        if h.dimension is None:  # a configuration rule: its text is the change itself
            for c in h.cites:
                first.setdefault(c, number)
            continue
        new = [c for c in h.cites if c not in first]
        seen = sorted({first[c] for c in h.cites if c in first})
        if new:
            h.text += " Configuration changed: " + "; ".join(new) + "."
        if seen:
            h.text += f" (After the configuration change in {', '.join(map(str, seen))}.)"
        for c in new:
            first[c] = number
    return ranked


class _Blank(dict):
    """format_map that leaves unknown placeholders readable instead of raising."""

    def __missing__(self, key: str) -> str:
        return "n/a"
