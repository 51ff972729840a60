"""Plugins: extra dimensions, hypothesis rules, report formats and alert sinks from installed packages.

Why entry points: that is how the OTel ecosystem users know extends a tool without forking it
(``opentelemetry_instrumentor``, the Collector's builder). A package declares, in its
``pyproject.toml``::

    [project.entry-points."driftline.dimensions"]
    refunds = "acme_driftline:REFUND_DIMENSIONS"      # Dimension objects over runs columns
    [project.entry-points."driftline.hypotheses"]
    refunds = "acme_driftline:RULES"                  # rule dicts, the fields of hypotheses.toml
    [project.entry-points."driftline.renderers"]
    csv = "acme_driftline:render_csv"                 # report -> text; `diff --format csv`
    [project.entry-points."driftline.alerts"]
    pager = "acme_driftline:page"                     # (sink settings, event) -> None; `type = "pager"`

An entry point may name the object or a function returning it. One that fails to load is reported by
``driftline plugins`` and skipped everywhere else (with a warning): a broken plugin never stops a
report. Dimensions and rules are checked as driftline.toml's are.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

GROUPS = {
    "driftline.dimensions": "extra dimensions of the agent diff",
    "driftline.hypotheses": "extra hypothesis rules",
    "driftline.renderers": "extra report formats (diff --format NAME)",
    "driftline.alerts": "extra alert sink types ([alerts.NAME] type = …)",
}


@dataclass(frozen=True)
class Plugin:
    group: str
    name: str
    value: str  # module:attribute
    distribution: str | None
    loaded: Any = None
    error: str | None = None


@functools.cache
def _installed() -> dict[str, tuple[Any, ...]]:
    """The Driftline entry points of every installed distribution, by group: one scan per process
    (each scan reads every distribution's metadata, tens of milliseconds)."""
    every = entry_points()
    return {group: tuple(every.select(group=group)) for group in GROUPS}


@functools.cache
def discover() -> tuple[Plugin, ...]:
    """Every Driftline entry point installed, loaded once per process (a failure is kept, not raised)."""
    found = []
    for group in GROUPS:
        for ep in _installed()[group]:
            dist = getattr(getattr(ep, "dist", None), "name", None)
            try:
                obj = ep.load()
                if callable(obj) and group in ("driftline.dimensions", "driftline.hypotheses"):
                    obj = obj()
                found.append(Plugin(group, ep.name, ep.value, dist, obj))
            except Exception as exc:  # a plugin's bug must not stop the report
                found.append(Plugin(group, ep.name, ep.value, dist, error=f"{type(exc).__name__}: {exc}"))
    for p in found:
        if p.error:
            print(f"driftline: warning: plugin {p.name} ({p.group}) skipped: {p.error}", file=sys.stderr)
    return tuple(found)


def _ok(group: str) -> list[Plugin]:
    return [p for p in discover() if p.group == group and p.error is None]


def dimensions() -> list[Any]:
    """The Dimension objects plugins add (each entry point: one Dimension or a list of them)."""
    out = []
    for p in _ok("driftline.dimensions"):
        out.extend(p.loaded if isinstance(p.loaded, list | tuple) else [p.loaded])
    return out


def rules() -> list[dict[str, Any]]:
    """The hypothesis rules plugins add (each entry point: one rule dict or a list of them)."""
    out = []
    for p in _ok("driftline.hypotheses"):
        out.extend(p.loaded if isinstance(p.loaded, list | tuple) else [p.loaded])
    return out


def renderer_names() -> list[str]:
    """The report formats plugins add, by name, without importing them (the CLI lists them as choices)."""
    return sorted({ep.name for ep in _installed()["driftline.renderers"]})


def renderers() -> dict[str, Callable[[Any], str]]:
    return {p.name: p.loaded for p in _ok("driftline.renderers") if callable(p.loaded)}


def alert_sinks() -> dict[str, Callable[[dict[str, Any], dict[str, Any]], None]]:
    return {p.name: p.loaded for p in _ok("driftline.alerts") if callable(p.loaded)}
