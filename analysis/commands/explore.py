"""``driftline versions``, ``driftline runs`` and ``driftline inspect``: look before you diff."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import click

from driftline.analysis.commands.common import open_data, scope_options, since_clause
from driftline.analysis.report.tables import Column, print_table
from driftline.analysis.slow_runs import p95_by_version_sql


def _ts(t: Any) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if t is not None else "—"


@click.command(epilog="\b\nExamples:\n  driftline versions --agent support\n  driftline versions --format json")
@scope_options
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def versions(data: str, pricing: str | None, agent: str | None, env: str | None, fmt: str) -> None:
    """Versions with their run counts, error counts and time ranges (oldest first)."""

    from driftline.analysis.diff.sides import versions as list_versions

    rows = list_versions(open_data(data, pricing), agent, env)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=1, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v)))
        return
    if not rows:
        click.echo(f"no versioned runs under {data} yet: set service.version or gen_ai.agent.version in your app")
        return
    columns = [
        Column("version"),
        Column("runs", right=True),
        Column("errors", right=True),
        Column("first run", drop=2),
        Column("last run"),
        Column("agents", drop=1),
        Column("environments", shrink=True),
    ]
    print_table(
        columns,
        [
            (
                str(r["version"]),
                f"{r['runs']:,}" + (f" (≈{r['runs_estimated']:,.0f} sampled)" if r["runs_estimated"] else ""),
                f"{r['errors']:,}",
                _ts(r["first_seen"]),
                _ts(r["last_seen"]),
                ", ".join(r["agents"] or []),
                ", ".join(r["environments"] or []),
            )
            for r in rows
        ],
    )


@click.group(
    invoke_without_command=True,
    epilog="""\b
Examples:
  driftline runs --version v2.0 --errors
  driftline runs --slow --limit 10
  driftline runs --outcome escalated --format json
  driftline runs rebuild --since 7d      # derive the runs of the last week again""",
)
@scope_options
@click.option("--version", "version", default=None, help="Only runs of this version.")
@click.option("--errors", is_flag=True, help="Only runs that ended in an error.")
@click.option("--slow", is_flag=True, help="Only runs slower than the 95th percentile of all their version's runs.")
@click.option("--outcome", default=None, help="Only runs with this outcome.")
@click.option("--since", default=None, help="Only runs since (7d, 12h, or an ISO date).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.pass_context
def runs(
    ctx: click.Context,
    data: str,
    pricing: str | None,
    agent: str | None,
    env: str | None,
    version: str | None,
    errors: bool,
    slow: bool,
    outcome: str | None,
    since: str | None,
    limit: int,
    fmt: str,
) -> None:
    """List runs, newest first, with their outcome, duration, tokens, cost and tool sequence."""
    if ctx.invoked_subcommand is not None:
        return
    from driftline.analysis.diff.sides import ANY, SideSpec, run_filters, unknown_version
    from driftline.analysis.sql_command import _emit

    where, params = run_filters(SideSpec(version or ANY, agent=agent, env=env), version or None)
    clauses = [where]
    if outcome:
        clauses.append("outcome = ?")
        params.append(outcome)
    if errors:
        clauses.append("status = 'ERROR'")
    since_clause(since, "start_time", clauses, params)
    con = open_data(data, pricing)
    if version:  # the same rule as diff: a version no run carries is an error, not an empty table
        unknown = unknown_version(con, version, agent, env)
        if unknown is not None:
            raise click.ClickException(str(unknown))
    where = " AND ".join(clauses)
    slow_join = ""
    if slow:  # the same yardstick as the API and console: the p95 of all the version's runs
        slow_join = f"JOIN ({p95_by_version_sql()}) AS p95 USING (version)"
        where += " AND duration_ms > p95.slow_ms"
    con.execute(
        f"""CREATE TEMP TABLE _listed AS SELECT run_id, version, agent, start_time, round(duration_ms) AS duration_ms,
            status, outcome, llm_calls, tool_calls, input_tokens, output_tokens, round(cost, 6) AS cost,
            array_to_string(tool_sequence, ' → ') AS tools
            FROM runs {slow_join} WHERE {where} ORDER BY start_time DESC LIMIT {int(limit)}""",
        params,
    )
    if fmt != "table":
        _emit(con, "SELECT * FROM _listed", fmt, limit)
        return
    _print_runs(con)


def _print_runs(con: Any) -> None:
    """The listed runs, one line each: ids whole or as short unique prefixes (never cut); on a narrow
    terminal the tool sequence gives way, then the least useful columns."""
    from driftline.analysis.run_ids import short_ids

    rows = con.execute("SELECT * FROM _listed").fetchall()
    if not rows:
        click.echo("no runs match")
        return
    shown = short_ids(con, [r[0] for r in rows])
    columns = [
        Column("run"),
        Column("version"),
        Column("agent", drop=3),
        Column("start", drop=1),
        Column("ms", right=True),
        Column("status", drop=4),
        Column("outcome"),
        Column("llm", right=True, drop=5),
        Column("tools#", right=True, drop=6),
        Column("in tok", right=True, drop=7),
        Column("out tok", right=True, drop=8),
        Column("cost", right=True, drop=2),
        Column("tools", shrink=True),
    ]

    def cell(v: Any, fmt: str = "{}") -> str:
        return "—" if v is None else fmt.format(v)

    print_table(
        columns,
        [
            (
                shown[r[0]],
                cell(r[1]),
                cell(r[2]),
                _ts(r[3]),
                cell(r[4], "{:,.0f}"),
                cell(r[5]),
                cell(r[6]),
                cell(r[7]),
                cell(r[8]),
                cell(r[9], "{:,.0f}"),
                cell(r[10], "{:,.0f}"),
                cell(r[11], "{:.6f}"),
                cell(r[12]),
            )
            for r in rows
        ],
    )


@click.command(
    epilog="""\b
Examples:
  driftline inspect 4bf92f3577b3          # any unique prefix, as printed by driftline runs
  driftline inspect 4bf92f3577b34da6a3ce929d0e0e4736   # a trace id (when it holds one run)"""
)
@scope_options
@click.argument("run_id")
@click.option("--format", "fmt", type=click.Choice(["tree", "json"]), default="tree", show_default=True)
def inspect(data: str, pricing: str | None, agent: str | None, env: str | None, run_id: str, fmt: str) -> None:
    """Show one run's span tree as a timeline, with tokens, cost and durations.

    RUN_ID is a run id, any unique prefix of one, or a trace id holding one run."""
    from rich.console import Console
    from rich.tree import Tree

    from driftline.analysis.run_ids import RunIdError, resolve

    con = open_data(data, pricing)
    try:
        run_id = resolve(con, run_id)
    except RunIdError as exc:
        raise click.ClickException(str(exc)) from None
    run = con.execute(
        "SELECT trace_id, agent_run, start_time, duration_ms, status, outcome, cost FROM runs WHERE run_id = ?",
        [run_id],
    ).fetchone()
    trace_id, agent_run, start, duration, status, outcome, cost = run
    root_span = run_id.split(":", 1)[1] if agent_run else None
    rows = con.execute(
        """SELECT s.span_id, s.parent_span_id, s.name, s.start_time, s.duration_ms, s.status_code, s.input_tokens,
                  s.output_tokens, coalesce(s.response_model, s.request_model), k.cost, s.error_type
           FROM spans s LEFT JOIN llm_call_costs k USING (trace_id, span_id) WHERE s.trace_id = ?
           ORDER BY s.start_time""",
        [trace_id],
    ).fetchall()
    if fmt == "json":
        keys = ("span_id", "parent_span_id", "name", "start_time", "duration_ms", "status", "input_tokens")
        keys += ("output_tokens", "model", "cost", "error_type")
        doc = {
            "run_id": run_id,
            "trace_id": trace_id,
            "start_time": start.isoformat() if start else None,
            "duration_ms": duration,
            "status": status,
            "outcome": outcome,
            "cost": cost,
            "spans": [dict(zip(keys, r, strict=True)) for r in rows],
        }
        click.echo(json.dumps(doc, indent=1, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v)))
        return
    children: dict[str | None, list[tuple]] = {}
    ids = {r[0] for r in rows}
    for r in rows:
        children.setdefault(r[1] if r[1] in ids else None, []).append(r)
    width = 30
    total = duration or 1.0

    def label(r: tuple) -> str:
        offset = (r[3] - start).total_seconds() * 1000 if r[3] and start else 0.0
        a = max(0, min(width - 1, int(offset / total * width)))
        b = max(a + 1, min(width, int((offset + (r[4] or 0)) / total * width)))
        bar = "·" * a + "█" * (b - a) + "·" * (width - b)
        extra = []
        if r[6] is not None or r[7] is not None:
            extra.append(f"{r[6] or 0}→{r[7] or 0} tok")
        if r[8]:
            extra.append(r[8])
        if r[9] is not None:
            extra.append(f"${r[9]:.5f}")
        if r[5] == "ERROR":
            extra.append(f"[red]ERROR {r[10] or ''}[/red]")
        return f"[dim]{bar}[/dim] {r[2]}  [cyan]{(r[4] or 0):,.0f} ms[/cyan]  " + "  ".join(extra)

    def add(node: Tree, parent: str | None) -> None:
        for r in children.get(parent, []):
            add(node.add(label(r)), r[0])

    head = Tree(
        f"[bold]{run_id}[/bold]  {duration:,.0f} ms  status {status}  outcome {outcome or '—'}  "
        f"cost {f'${cost:.5f}' if cost is not None else 'n/a'}"
    )
    if root_span:
        top = [r for r in rows if r[0] == root_span]
        for r in top:
            add(head.add(label(r)), r[0])
    else:
        add(head, None)
    Console().print(head)
