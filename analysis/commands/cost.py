"""``driftline cost``: spend by model, version, day or agent, with sources, unpriced models and a budget gate."""

from __future__ import annotations

import sys

import click

from driftline.analysis.commands.common import EXIT_GATE, open_data, scope_options

GROUPS = {
    "model": "model",
    "version": "agent_version",
    "day": "strftime(start_time, '%Y-%m-%d')",
    "agent": "agent_name",
}


@click.command(
    epilog="""\b
Examples:
  driftline cost --by model --since 7d
  driftline cost --by day --budget 250          # exit 3 when the total exceeds 250
  driftline cost --pricing my-prices.toml --by version"""
)
@scope_options
@click.option("--by", "by", type=click.Choice(sorted(GROUPS)), default="model", show_default=True)
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
    from driftline.analysis.diff.sides import SelectionError, parse_time
    from driftline.analysis.sql_command import _emit

    clauses, params = ["true"], []
    try:
        start = parse_time(since)
    except SelectionError as exc:
        raise click.UsageError(str(exc)) from exc
    if start:
        clauses.append("c.start_time >= ?")
        params.append(start)
    if agent:
        clauses.append("c.trace_id IN (SELECT trace_id FROM spans WHERE agent_name = ?)")
        params.append(agent)
    if env:
        clauses.append("c.environment = ?")
        params.append(env)
    con = open_data(data, pricing, cached_runs=False)
    where = " AND ".join(clauses)
    con.execute(
        f"""CREATE TEMP TABLE _costed AS
            SELECT c.*, k.cost, k.cost_source, k.model,
                   coalesce(c.agent_name, (SELECT any_value(a.agent_name) FROM spans a
                       WHERE a.trace_id = c.trace_id AND a.agent_name IS NOT NULL)) AS agent_resolved
            FROM llm_calls c JOIN llm_call_costs k USING (trace_id, span_id) WHERE {where}""",
        params,
    )
    key = (
        GROUPS[by]
        .replace("agent_name", "agent_resolved")
        .replace("agent_version", "coalesce(agent_version, service_version)")
    )
    con.execute(
        f"""CREATE TEMP VIEW _report AS SELECT {key} AS {by}, count(*) AS calls,
               sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
               round(sum(cost), 6) AS cost,
               count(*) FILTER (WHERE cost_source = 'reported') AS reported,
               count(*) FILTER (WHERE cost_source = 'pricing') AS from_table,
               count(*) FILTER (WHERE cost_source IS NULL) AS unpriced
            FROM _costed GROUP BY ALL ORDER BY cost DESC NULLS LAST"""
    )
    _emit(con, "SELECT * FROM _report", fmt, None)
    total, unpriced = con.execute(
        "SELECT coalesce(sum(cost), 0), list(DISTINCT model) FILTER (WHERE cost_source IS NULL) FROM _costed"
    ).fetchone()
    if fmt == "table":
        click.echo(f"total: ${total:,.4f}")
    if unpriced:
        click.echo(
            "unpriced models (not in the pricing table; add them with --pricing): "
            + ", ".join(sorted(map(str, unpriced))),
            err=True,
        )
    if budget is not None and total > budget:
        click.echo(f"budget exceeded: ${total:,.2f} > ${budget:,.2f}", err=True)
        sys.exit(EXIT_GATE)
