"""``driftline cost``: spend by model, version, day or agent, with sources, unpriced models and a budget gate."""

from __future__ import annotations

import sys

import click

from driftline.analysis.commands.common import EXIT_GATE, open_data, scope_options, since_clause

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
    from driftline.analysis.sql_command import _emit

    clauses, params = ["true"], []
    since_clause(since, "c.start_time", clauses, params)
    if agent:
        clauses.append("coalesce(c.agent_name, a.run_agent) = ?")
        params.append(agent)
    if env:
        clauses.append("c.environment = ?")
        params.append(env)
    con = open_data(data, pricing, cached_runs=False)
    where = " AND ".join(clauses)
    con.execute(
        f"""CREATE TEMP TABLE _costed AS
            WITH agents AS (  -- a model call's agent and version are those of the agent run around it
                SELECT trace_id, any_value(agent_name) AS run_agent, any_value(agent_version) AS run_version
                FROM spans WHERE operation = 'invoke_agent' GROUP BY trace_id)
            SELECT c.*, k.cost, k.cost_source, k.model,
                   coalesce(c.agent_name, a.run_agent) AS agent_resolved,
                   coalesce(c.agent_version, a.run_version, c.service_version) AS version_resolved
            FROM llm_calls c JOIN llm_call_costs k USING (trace_id, span_id) LEFT JOIN agents a USING (trace_id)
            WHERE {where}""",
        params,
    )
    key = GROUPS[by].replace("agent_name", "agent_resolved").replace("agent_version", "version_resolved")
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
