"""``driftline baseline set|show|clear``: the approved baseline a one-sided diff compares against;
``baseline promote``: hand-picked runs as a named baseline (``@name``) any diff can use."""

from __future__ import annotations

import json
from typing import Any

import click

from driftline.analysis.commands.common import agent_option, env_option, open_data, require_root
from driftline.common.options import data_option


@click.group(
    epilog="""\b
Examples:
  driftline baseline set v1.0 --agent support --env prod --note "approved in review #42"
  driftline diff v2.0 --agent support --env prod      # compares against it
  driftline baseline show --agent support --env prod
  driftline baseline promote golden 4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7
  driftline diff @golden v2.1                         # the promoted runs against v2.1
  driftline baseline show --name golden"""
)
def baseline() -> None:
    """Record, show or clear the approved baseline (immutable records in the data root)."""


@baseline.command(
    "set",
    epilog="""\b
Examples:
  driftline baseline set v1.0 --agent support --env prod --note "approved in #42"
  driftline diff v2.0 --agent support --env prod     # then one side is enough""",
)
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


@baseline.command(
    "promote",
    epilog="""\b
Examples:
  driftline baseline promote golden 4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7 --note "reviewed answers"
  driftline runs --version v2.0 --format json | jq -r '.[].run_id' | driftline baseline promote golden --from -
  driftline diff @golden v2.1""",
)
@click.argument("name")
@click.argument("run_ids", nargs=-1)
@data_option
@click.option(
    "--from",
    "from_file",
    type=click.File("r"),
    default=None,
    help="Read run ids from this file, one per line (- = stdin).",
)
@click.option("--replace", is_flag=True, help="The runs given become the whole baseline (default: added to it).")
@click.option("--note", default=None, help="Why these runs are the reference.")
def promote(name: str, run_ids: tuple[str, ...], data: str, from_file: Any, replace: bool, note: str | None) -> None:
    """Promote runs (by run id) to the named baseline NAME; a diff side @NAME is exactly those runs."""
    from driftline.analysis import baselines

    ids = list(run_ids) + ([line.strip() for line in from_file if line.strip()] if from_file else [])
    if not ids:
        raise click.UsageError("give run ids (arguments or --from FILE)")
    con = open_data(data, None, only_runs=True)
    try:
        record = baselines.promote(data, con, name, ids, note, replace)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"baseline @{name} ({record['id']}): {record['runs']:,} runs"
        + (f" of {', '.join(record['versions'])}" if record["versions"] else "")
        + (f", replaces {record['replaces']}" if record["replaces"] else "")
        + f" — diff against it with: driftline diff @{name} CANDIDATE"
    )


@baseline.command(
    "show",
    epilog="""\b
Examples:
  driftline baseline show --agent support --env prod
  driftline baseline show --history --json           # every record of every scope
  driftline baseline show --name all""",
)
@data_option
@agent_option
@env_option
@click.option("--name", default=None, help="A named baseline (or 'all' to list every one).")
@click.option("--history", is_flag=True, help="Every record of the scope, oldest first.")
@click.option("--json", "as_json", is_flag=True)
def show(data: str, agent: str | None, env: str | None, name: str | None, history: bool, as_json: bool) -> None:
    """Show the current baseline (or the scope's history, or a named baseline)."""
    from driftline.analysis import baselines

    require_root(data)
    if name is not None:
        _show_named(data, name, history, as_json)
        return
    scoped = agent is not None or env is not None
    if history:  # with no --agent/--env: every record of every scope, named baselines too
        rows = [r for r in baselines.records(data) if not scoped or (r.get("agent") == agent and r.get("env") == env)]
    else:
        cur = baselines.current(data, agent, env)
        rows = [cur] if cur else []
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    if not rows:
        others = sorted({_scope(r) for r in baselines.records(data) if not r.get("name") and not r.get("cleared")})
        hint = f"; baselines exist for {', '.join(others)}" if others and not history else ""
        click.echo(
            f"no baseline recorded for {_scope({'agent': agent, 'env': env})}{hint}"
            " (set one with: driftline baseline set VERSION)"
        )
        return
    _echo(rows)


def _scope(r: dict[str, Any]) -> str:
    """How a record's scope is typed on the command line."""
    parts = [f"--agent {r['agent']}" if r.get("agent") else "", f"--env {r['env']}" if r.get("env") else ""]
    return " ".join(p for p in parts if p) or "the whole root (no --agent/--env)"


def _show_named(data: str, name: str, history: bool, as_json: bool) -> None:
    from driftline.analysis import baselines

    if name == "all":
        rows = baselines.names(data)
    elif history:
        rows = [r for r in baselines.records(data) if r.get("name") == name]
    else:
        rows = [r for r in [baselines.named(data, name)] if r]
    if as_json:
        click.echo(json.dumps(rows if history or name != "all" else [baselines.summary(r) for r in rows], indent=1))
        return
    if not rows:
        click.echo(f"no named baseline {name!r} (promote runs with: driftline baseline promote NAME RUN_ID...)")
        return
    _echo(rows)


def _echo(rows: list[dict[str, Any]]) -> None:
    """One line per record: a scope's (its version) or a named baseline's (@name and its versions)."""
    for r in rows:
        what = f"@{r['name']}" if r.get("name") else ""
        if r.get("cleared"):
            click.echo(f"{r['set_at']}  {what + ' ' if what else ''}cleared by {r['set_by']}")
            continue
        what = (
            f"{what}  {r['runs']:,} runs  {', '.join(r['versions']) or '—'}"
            if what
            else f"{r['version']}  {r['runs']:,} runs" + (f"  [{_scope(r)}]" if r.get("agent") or r.get("env") else "")
        )
        click.echo(
            f"{r['set_at']}  {what}  set by {r['set_by']}  id {r['id']}"
            + (f"  note: {r['note']}" if r.get("note") else "")
        )


@baseline.command(
    "clear",
    epilog="""\b
Examples:
  driftline baseline clear --agent support --env prod
  driftline baseline clear --name golden""",
)
@data_option
@agent_option
@env_option
@click.option("--name", default=None, help="Clear this named baseline instead of the scope's.")
def clear(data: str, agent: str | None, env: str | None, name: str | None) -> None:
    """Clear the scope's baseline, or a named one (writes a record; history is kept)."""
    from driftline.analysis import baselines

    require_root(data)
    if name is not None:
        cleared = baselines.clear_named(data, name)
        click.echo(f"baseline @{name} cleared" if cleared else f"no named baseline {name!r} to clear")
        return
    record = baselines.clear(data, agent, env)
    click.echo("baseline cleared" if record else "no baseline to clear for this scope")
