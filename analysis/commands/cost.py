"""``driftline cost``: spend by model, version, day or agent, with sources, unpriced models and a budget gate."""

from __future__ import annotations

import sys

import click

from driftline.analysis.commands.common import EXIT_GATE, open_data, scope_options, since_clause


@click.command(
    epilog="""\b
Examples:
  driftline cost --by model --since 7d
  driftline cost --by day --budget 250          # exit 3 when the total exceeds 250
  driftline cost --pricing my-prices.toml --by version"""
)
@scope_options
@click.option("--by", "by", type=click.Choice(["agent", "day", "model", "version"]), default="model", show_default=True)
@click.option("--since", default=None, help="Only calls since (7d, 12h, or an ISO date).")
@click.option("--budget", type=click.FloatRange(min=0), default=None, help=f"Exit {EXIT_GATE} if the total exceeds it.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
def cost(
    data: str,
    pricing: str | None,
    agent: str | None,
    env: str | None,
    by: str,
    since: str | None,
    budget: float | None,
    fmt: str,
) -> None:
    """What model calls cost: provider-reported where spans say, else from the pricing table; unpriced calls
    are counted and their models listed, never priced at zero."""
    from driftline.analysis.cost import grouped_costs
    from driftline.analysis.sql_command import _emit

    clauses, params = ["true"], []
    since_clause(since, "c.start_time", clauses, params)
    con = open_data(data, pricing, cached_runs=False)
    total, unpriced = grouped_costs(con, by, clauses, params, agent, env)
    _emit(con, "SELECT * FROM _report", fmt, None)
    if fmt == "table":
        click.echo(f"total: ${total:,.4f}")
    (rates,) = con.execute("SELECT list(DISTINCT 1.0 / weight) FILTER (WHERE weight > 1) FROM _costed").fetchall()[0]
    if rates:  # the table's calls, tokens and cost are the sampled calls' weighed by 1 / rate
        shown = ", ".join(f"{r:.0%}" for r in sorted(rates))
        click.echo(
            f"sampled data (sample rate {shown}): calls, tokens and cost are scaled back to all traffic", err=True
        )
    if unpriced:
        click.echo(
            "unpriced models (not in the pricing table; add them with --pricing): "
            + ", ".join(sorted(map(str, unpriced))),
            err=True,
        )
    if budget is not None and total > budget:
        click.echo(f"budget exceeded: ${total:,.2f} > ${budget:,.2f}", err=True)
        sys.exit(EXIT_GATE)
