"""``driftline chart``: a version's latency, outcomes, tools or cost as bars in the terminal.

Why: before a diff, people look. A bar per category (per version, when several are given, side by
side) answers "what does v2 look like?" in a terminal or a CI log, with no browser; ``--format json``
gives the same numbers to a script. The figures come from the ``runs`` view, as the console's do.
"""

from __future__ import annotations

import json
import math
from typing import Any

import click

from driftline.analysis.commands.common import open_data, scope_options

METRICS = ("latency", "outcomes", "tools", "cost")
WIDTH = 40
_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(share: float, width: int = WIDTH) -> str:
    """``share`` (0..1) of ``width`` cells in eighths of a block."""
    cells = max(0.0, min(1.0, share)) * width
    full = int(cells)
    rest = _EIGHTHS[int((cells - full) * 8)] if full < width else ""
    return ("█" * full + rest.strip()).ljust(width)


def _latency_bins(values: list[float], bins: int = 8) -> list[tuple[str, float, float]]:
    """Log-spaced bins over the positive durations of every side: (label, low, high)."""
    positive = [v for v in values if v and v > 0]
    if not positive:
        return []
    lo, hi = math.log10(min(positive)), math.log10(max(positive))
    if hi - lo < 1e-9:
        hi = lo + 1e-9
    edges = [10 ** (lo + (hi - lo) * i / bins) for i in range(bins + 1)]
    edges[-1] = math.inf
    return [(f"{_ms(edges[i])}–{_ms(edges[i + 1])}", edges[i], edges[i + 1]) for i in range(bins)]


def _ms(v: float) -> str:
    if math.isinf(v):
        return "∞"
    return f"{v / 1000:.1f} s" if v >= 1000 else f"{v:.0f} ms"


def series(con: Any, metric: str, versions: list[str], where: str, params: list[Any]) -> dict[str, Any]:
    """The chart's numbers: ``{"labels": [...], "values": {version: [share or amount per label]}, ...}``."""
    if metric == "latency":
        rows = con.execute(
            f"SELECT version, duration_ms FROM runs WHERE {where} AND duration_ms IS NOT NULL", params
        ).fetchall()
        bins = _latency_bins([r[1] for r in rows])
        values = {}
        for v in versions:
            mine = [r[1] for r in rows if r[0] == v]
            values[v] = [sum(lo <= x < hi for x in mine) / len(mine) if mine else 0.0 for _, lo, hi in bins]
        return {"labels": [b[0] for b in bins], "values": values, "unit": "share of runs"}
    if metric in ("outcomes", "tools"):
        expr = "coalesce(outcome, '(none)')" if metric == "outcomes" else "unnest(list_distinct(tool_sequence))"
        rows = con.execute(
            f"SELECT version, label, count(*) FROM (SELECT version, {expr} AS label FROM runs WHERE {where}) "
            "GROUP BY ALL",
            params,
        ).fetchall()
        totals = dict(
            con.execute(f"SELECT version, count(*) FROM runs WHERE {where} GROUP BY version", params).fetchall()
        )
        labels = sorted({r[1] for r in rows}, key=lambda lab: -sum(r[2] for r in rows if r[1] == lab))
        counts = {(r[0], r[1]): r[2] for r in rows}
        values = {
            v: [counts.get((v, lab), 0) / totals[v] if totals.get(v) else 0.0 for lab in labels] for v in versions
        }
        return {"labels": labels, "values": values, "unit": "share of runs"}
    rows = con.execute(
        f"SELECT version, CAST(date_trunc('day', start_time) AS DATE) AS day, sum(cost), count(*) FROM runs "
        f"WHERE {where} GROUP BY ALL ORDER BY day",
        params,
    ).fetchall()
    days = sorted({r[1] for r in rows})
    totals = {(r[0], r[1]): (r[2] or 0.0) for r in rows}
    values = {v: [totals.get((v, d), 0.0) for d in days] for v in versions}
    return {"labels": [d.isoformat() for d in days], "values": values, "unit": "cost per day"}


@click.command(
    epilog="""\b
Examples:
  driftline chart -v v2.0 -m latency
  driftline chart -v v1.0 -v v2.0 -m tools       # side by side
  driftline chart -v v2.0 -m cost --since 7d --format json"""
)
@scope_options
@click.option("-v", "--version", "versions", multiple=True, required=True, help="A version (repeat to compare).")
@click.option("-m", "--metric", type=click.Choice(METRICS), default="latency", show_default=True)
@click.option("--since", default=None, help="Only runs since (7d, 12h, or an ISO date).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def chart(
    data: str,
    pricing: str | None,
    agent: str | None,
    env: str | None,
    versions: tuple[str, ...],
    metric: str,
    since: str | None,
    fmt: str,
) -> None:
    """Bars of a version's latency, outcomes, tools or cost per day, in the terminal."""
    from driftline.analysis.commands.common import since_clause
    from driftline.analysis.diff.sides import ANY, SideSpec, run_filters, unknown_version

    con = open_data(data, pricing, only_runs=True)
    names = list(dict.fromkeys(versions))
    for v in names:
        unknown = unknown_version(con, v, agent, env)
        if unknown is not None:
            raise click.ClickException(str(unknown))
    where, params = run_filters(SideSpec(ANY, agent=agent, env=env), None)
    clauses = [where, "version IN (SELECT unnest(?::VARCHAR[]))"]
    params.append(names)
    since_clause(since, "start_time", clauses, params)
    doc = {"metric": metric, **series(con, metric, names, " AND ".join(clauses), params)}
    if fmt == "json":
        click.echo(json.dumps(doc, indent=1))
        return
    _print(doc, names)


def _print(doc: dict[str, Any], names: list[str]) -> None:
    labels = doc["labels"]
    if not labels:
        click.echo("no runs to chart")
        return
    money = doc["metric"] == "cost"
    peak = max((x for vals in doc["values"].values() for x in vals), default=0.0) or 1.0
    label_width = min(max(len(lab) for lab in labels), 28)
    name_width = max(len(n) for n in names)
    click.echo(f"{doc['metric']} ({doc['unit']})")
    for i, lab in enumerate(labels):
        for j, v in enumerate(names):
            x = doc["values"][v][i]
            shown = f"${x:,.4f}" if money else f"{x:6.1%}"
            head = (lab[:label_width] if j == 0 else "").ljust(label_width)
            click.echo(f"{head}  {v.ljust(name_width)} {bar(x / peak if money else x)} {shown}")
