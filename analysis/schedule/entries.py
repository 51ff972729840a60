"""``[[report]]`` entries of driftline.toml, validated, with their sides resolved at a given time.

Why sides are resolved against the *slot* time, not the clock: a report caught up after downtime must
compare the windows it would have compared on time (``candidate = "1h"`` is the hour before its slot).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from croniter import croniter

from driftline.analysis.diff.sides import ANY, SideSpec
from driftline.analysis.explain.config import config_from as rca_config
from driftline.collector.embed.model import config_from as semantic_config
from driftline.common.times import duration, is_duration, when

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # a report name: also a directory of its history
_FIELDS = {
    "sequential",
    "horizon",
    "persist_k",
    "name",
    "cron",
    "agent",
    "env",
    "baseline",
    "candidate",
    "formats",
    "output_dir",
    "max_score",
    "alert_on",
    "alerts",
    "min_runs",
    "by",
    "model",
    "chunk",
    "label_coverage",
    "positive",
    "weights",
    "explain",
}
FORMATS = ("html", "markdown", "json")


@dataclass(frozen=True)
class ReportEntry:
    name: str
    cron: str
    baseline: str = "previous"  # a version, previous, latest, or a window: 7d..1d
    candidate: str = "latest"  # a version, latest, or a window: 1h, 6h..now
    agent: str | None = None
    env: str | None = None
    formats: tuple[str, ...] = ("html", "markdown", "json")
    output_dir: str = "driftline-reports"
    max_score: float | None = None  # alert when the score crosses above it
    alert_on: tuple[str, ...] = ("review", "block")  # verdicts that alert when the verdict changes to them
    alerts: tuple[str, ...] = ()  # names of [alerts.<name>] sinks
    min_runs: int | None = None
    by: str | None = None
    sequential: bool = False  # monitor across looks: mSPRT (growing candidate) or CUSUM (rolling windows)
    horizon: int = 24  # rolling windows: looks per monitoring period (false alarms <= alpha per period)
    persist_k: int = 3  # runs a change must last to be called sustained rather than a spike
    model: str | None = None  # a classical model: its inferences are compared (driftline diff --model)
    chunk: str = "day"  # with model: the windows of the performance table
    label_coverage: float = 0.8  # with model: below this share of labels a window is provisional
    positive: str | None = None  # with model: the positive class of a binary classifier
    weights: dict[str, float] = field(default_factory=dict)  # with model: feature -> importance
    explain: bool = False  # add the [rca] LLM's explanation (or the rules', saying why) to each report
    extra: dict[str, Any] = field(default_factory=dict)

    def side(self, value: str, at: datetime) -> SideSpec:
        """A side spec for ``value`` as of ``at``: a window's start and end are durations before ``at``,
        or (the start) an ISO time — a window that grows from a fixed start."""
        common = {"agent": self.agent, "env": self.env}
        if ".." in value:
            start, _, end = value.partition("..")
            return SideSpec(
                ANY, since=when(start, at), until=None if end in ("", "now") else at - duration(end), **common
            )
        try:
            return SideSpec(ANY, since=at - duration(value), until=at, **common)
        except ValueError:
            return SideSpec(value, **common)

    def sides(self, at: datetime) -> tuple[SideSpec, SideSpec]:
        return self.side(self.baseline, at), self.side(self.candidate, at)

    def rolling(self, value: str) -> bool:
        """Is this side a window that moves with the slot (``1h``, ``6h..now``, ``7d..1d``)? A version,
        ``latest``/``previous`` or a window with a fixed ISO start is not: it only grows."""
        start = value.partition("..")[0] if ".." in value else value
        return is_duration(start)


def parse(doc: dict[str, Any]) -> dict[str, ReportEntry]:
    """Every ``[[report]]`` of a config document; a bad entry is an error naming it."""
    entries: dict[str, ReportEntry] = {}
    sinks = set(doc.get("alerts", {}))
    for i, raw in enumerate(doc.get("report", [])):
        where = f"[[report]] #{i + 1}" + (f" ({raw.get('name')})" if raw.get("name") else "")
        unknown = sorted(set(raw) - _FIELDS)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}")
        name, cron = raw.get("name"), raw.get("cron")
        if not name or not NAME.match(str(name)):
            raise ValueError(f"{where}: needs a name of letters, digits, '.', '_' or '-'")
        if name in entries:
            raise ValueError(f"{where}: the name {name!r} is used twice")
        if not cron or not croniter.is_valid(str(cron)):
            raise ValueError(f"{where}: cron {cron!r} is not a valid cron expression (e.g. '0 * * * *')")
        formats = tuple(raw.get("formats", FORMATS))
        if not formats or set(formats) - set(FORMATS):
            raise ValueError(f"{where}: formats must be among {', '.join(FORMATS)}")
        alerts = tuple(raw.get("alerts", ()))
        missing = sorted(set(alerts) - sinks)
        if missing:
            raise ValueError(f"{where}: no [alerts.{missing[0]}] sink is defined")
        entry = ReportEntry(
            name=name,
            cron=cron,
            baseline=str(raw.get("baseline", "previous")),
            candidate=str(raw.get("candidate", "latest")),
            agent=raw.get("agent"),
            env=raw.get("env"),
            formats=formats,
            output_dir=str(raw.get("output_dir", "driftline-reports")),
            max_score=raw.get("max_score"),
            alert_on=tuple(raw.get("alert_on", ("review", "block"))),
            alerts=alerts,
            min_runs=raw.get("min_runs"),
            by=raw.get("by"),
            sequential=bool(raw.get("sequential", False)),
            horizon=int(raw.get("horizon", 24)),
            persist_k=int(raw.get("persist_k", 3)),
            model=raw.get("model"),
            chunk=str(raw.get("chunk", "day")),
            label_coverage=float(raw.get("label_coverage", 0.8)),
            positive=raw.get("positive"),
            weights={str(k): v for k, v in dict(raw.get("weights", {})).items()},
            explain=raw.get("explain", False),
        )
        if not isinstance(entry.explain, bool):
            raise ValueError(f"{where}: explain must be true or false, not {entry.explain!r}")
        if entry.model is not None:
            if entry.agent is not None:
                raise ValueError(f"{where}: a report compares an agent or a model, not both")
            if entry.sequential:
                raise ValueError(f"{where}: sequential monitoring is for agent reports; a model report is not")
            if entry.chunk not in ("hour", "day", "week") and not (entry.chunk.isdigit() and int(entry.chunk) > 0):
                raise ValueError(f"{where}: chunk must be hour, day, week or a number of inferences")
            bad = [k for k, v in entry.weights.items() if not isinstance(v, int | float) or not v > 0]
            if bad:
                raise ValueError(f"{where}: weights must be positive numbers ({', '.join(bad)})")
            if not 0 <= entry.label_coverage <= 1:
                raise ValueError(f"{where}: label_coverage must be between 0 and 1")
        if entry.horizon < 2:
            raise ValueError(f"{where}: horizon must be at least 2 looks")
        for value in (entry.baseline, entry.candidate):  # windows must parse now, not at 3 a.m.
            try:
                entry.side(value, datetime.now().astimezone())
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from exc
        entries[name] = entry
    # the tables every scheduled run reads: a mistake there is found when the schedule loads, not
    # logged at every slot
    semantic_config(doc.get("semantic"))
    if any(e.explain for e in entries.values()):
        rca_config(doc.get("rca"))
    return entries
