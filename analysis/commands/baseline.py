"""``driftline baseline set|show|clear``: the approved baseline a one-sided diff compares against."""

from __future__ import annotations

import json

import click

from driftline.analysis.commands.common import agent_option, env_option, open_data
from driftline.collector.cli import data_option


@click.group(
    epilog="""\b
Examples:
  driftline baseline set v1.0 --agent support --env prod --note "approved in review #42"
  driftline diff v2.0 --agent support --env prod      # compares against it
  driftline baseline show --agent support --env prod"""
)
def baseline() -> None:
    """Record, show or clear the approved baseline (immutable records in the data root)."""


@baseline.command("set")
@click.argument("version")
@data_option
@agent_option
@env_option
@click.option("--note", default=None, help="Why this baseline was approved.")
def set_cmd(version: str, data: str, agent: str | None, env: str | None, note: str | None) -> None:
    """Record VERSION (its runs as of now) as the baseline of the --agent/--env scope."""
    from driftline.analysis import baselines

    con = open_data(data, None)
    try:
        record = baselines.set_baseline(data, con, version, agent, env, note)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"baseline {record['id']}: {version} ({record['runs']:,} runs, {record['first_run']} → "
        f"{record['last_run']}) set by {record['set_by']}"
        + (f", replaces {record['replaces']}" if record["replaces"] else "")
    )


@baseline.command("show")
@data_option
@agent_option
@env_option
@click.option("--history", is_flag=True, help="Every record of the scope, oldest first.")
@click.option("--json", "as_json", is_flag=True)
def show(data: str, agent: str | None, env: str | None, history: bool, as_json: bool) -> None:
    """Show the current baseline (or the scope's history)."""
    from driftline.analysis import baselines

    if history:
        rows = [r for r in baselines.records(data) if r.get("agent") == agent and r.get("env") == env]
    else:
        cur = baselines.current(data, agent, env)
        rows = [cur] if cur else []
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    if not rows:
        click.echo("no baseline recorded for this scope (set one with: driftline baseline set VERSION)")
        return
    for r in rows:
        if r.get("cleared"):
            click.echo(f"{r['set_at']}  cleared by {r['set_by']}")
        else:
            click.echo(
                f"{r['set_at']}  {r['version']}  {r['runs']:,} runs  set by {r['set_by']}  id {r['id']}"
                + (f"  note: {r['note']}" if r.get("note") else "")
            )


@baseline.command("clear")
@data_option
@agent_option
@env_option
def clear(data: str, agent: str | None, env: str | None) -> None:
    """Clear the scope's baseline (writes a record; history is kept)."""
    from driftline.analysis import baselines

    record = baselines.clear(data, agent, env)
    click.echo("baseline cleared" if record else "no baseline to clear for this scope")
