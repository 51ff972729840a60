"""``driftline compare``: several versions at once — each against the first, or every pair (a matrix).

Why its own command: a release train has more than two versions, and running ``diff`` once per pair
multiplies the chance of a false alarm by the number of pairs. Here the pairs are one family: each
report's own correction runs at ``alpha / pairs`` (Bonferroni over the pairs, weighted Holm inside a
report), so the chance that *any* cell of the table or matrix flags an A/A difference stays at most
``alpha``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from itertools import combinations
from typing import Any

import click

from driftline.analysis import settings as config
from driftline.analysis.commands.common import EXIT_GATE, load_prices_or_fail, open_data, scope_options

VERDICT_RANK = {"stable": 0, "insufficient": 0, "review": 1, "block": 2}


def per_pair(alpha: float, pairs: int) -> float:
    """The error rate of each pair's report, so that all ``pairs`` together stay within ``alpha``."""
    return alpha / max(pairs, 1)


def pairs_of(versions: list[str], matrix: bool) -> list[tuple[str, str]]:
    """Every ordered pair (older, newer) for a matrix; else the first version against each other one."""
    if matrix:
        return list(combinations(versions, 2))
    return [(versions[0], v) for v in versions[1:]]


@click.command(
    epilog="""\b
Examples:
  driftline compare v1.0 v1.1 v1.2            # v1.1 and v1.2, each against v1.0
  driftline compare v1.0 v1.1 v1.2 --matrix   # every pair: a tournament of scores and verdicts
  driftline compare v1 v2 v3 --since 7d --format json"""
)
@click.argument("versions", nargs=-1, required=True)
@scope_options
@click.option("--matrix", is_flag=True, help="Compare every pair, not each version against the first.")
@click.option("--since", default=None, help="Only runs since (7d, 12h, or an ISO date).")
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.05,
    show_default=True,
    help="Error rate over all pairs together (each pair's report runs at alpha / pairs).",
)
@click.option("--min-runs", type=click.IntRange(min=2), default=30, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option(
    "--fail-on",
    type=click.Choice(["review", "block"]),
    default=None,
    help="Exit 3 when any pair's verdict is this or worse.",
)
def compare(
    versions: tuple[str, ...],
    data: str,
    pricing: str | None,
    agent: str | None,
    env: str | None,
    matrix: bool,
    since: str | None,
    alpha: float,
    min_runs: int,
    seed: int,
    fmt: str,
    fail_on: str | None,
) -> None:
    """Compare VERSIONS: each against the first, or (--matrix) every pair, with one correction for all."""
    from driftline.analysis.diff import hypotheses
    from driftline.analysis.diff.build import build_report
    from driftline.analysis.diff.dimensions import configured
    from driftline.analysis.diff.engine import StatSettings
    from driftline.analysis.diff.sides import SelectionError, SideSpec, parse_time

    names = list(dict.fromkeys(versions))
    if len(names) < 2:
        raise click.UsageError("give at least two different versions")
    pairs = pairs_of(names, matrix)
    doc = config.current()
    try:
        stats = replace(
            StatSettings(alpha=per_pair(alpha, len(pairs)), min_runs=min_runs, seed=seed),
            dimensions=configured(doc.get("dimensions")),
        )
        rules = hypotheses.load_rules(doc.get("hypothesis"))
        start = parse_time(since)
    except (ValueError, SelectionError) as exc:
        raise click.ClickException(str(exc)) from exc
    prices = load_prices_or_fail(pricing)
    con = open_data(data, pricing, only_runs=True)
    cells = []
    for base, cand in pairs:
        try:
            report = build_report(
                con,
                SideSpec(base, agent=agent, env=env, since=start),
                SideSpec(cand, agent=agent, env=env, since=start),
                settings=stats,
                prices=prices,
                data_root=data,
                rules=rules,
            )
        except (SelectionError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
        v = report.verdict
        cells.append(
            {
                "baseline": base,
                "candidate": cand,
                "verdict": v.verdict,
                "score": None if v.verdict == "insufficient" else round(v.score, 4),
                "score_low": None if v.verdict == "insufficient" else round(v.score_low, 4),
                "score_high": None if v.verdict == "insufficient" else round(v.score_high, 4),
                "runs": [report.baseline.runs, report.candidate.runs],
                "moved": [d.title for d in report.dimensions if d.status == "moved" and d.echo_of is None],
                "top_hypothesis": report.hypotheses[0].text if report.hypotheses else None,
            }
        )
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "alpha": alpha,
                    "pairs": len(pairs),
                    "alpha_per_pair": per_pair(alpha, len(pairs)),
                    "comparisons": cells,
                },
                indent=1,
            )
        )
    else:
        _print(names, cells, matrix, alpha, len(pairs))
    if fail_on and any(VERDICT_RANK[c["verdict"]] >= VERDICT_RANK[fail_on] for c in cells):
        raise SystemExit(EXIT_GATE)


def _cell_text(c: dict[str, Any]) -> str:
    return c["verdict"] if c["score"] is None else f"{c['verdict']} {c['score']:.2f}"


def _print(names: list[str], cells: list[dict[str, Any]], matrix: bool, alpha: float, pairs: int) -> None:
    from driftline.analysis.report.tables import Column, print_table

    click.echo(
        f"{pairs} comparison(s), one family: each at alpha {per_pair(alpha, pairs):.4g} (alpha {alpha} over all)"
    )
    if matrix:
        by_pair = {(c["baseline"], c["candidate"]): c for c in cells}
        columns = [Column("baseline ↓ / candidate →"), *(Column(n) for n in names[1:])]
        rows = []
        for row in names[:-1]:
            rows.append(
                [row]
                + [
                    _cell_text(by_pair[(row, col)]) if (row, col) in by_pair else ("·" if row == col else "")
                    for col in names[1:]
                ]
            )
        print_table(columns, rows)
        return
    columns = [
        Column("baseline"),
        Column("candidate"),
        Column("runs", right=True, drop=2),
        Column("verdict"),
        Column("score", right=True),
        Column("moved", shrink=True),
    ]
    print_table(
        columns,
        [
            (
                c["baseline"],
                c["candidate"],
                f"{c['runs'][0]:,} / {c['runs'][1]:,}",
                c["verdict"].upper(),
                "—" if c["score"] is None else f"{c['score']:.2f}",
                ", ".join(c["moved"]) or "—",
            )
            for c in cells
        ],
    )
