"""``driftline schedule`` (the scheduler, or ``--once NAME``) and ``driftline history``."""

from __future__ import annotations

import json
import logging
import signal
import sys
from datetime import UTC, datetime
from typing import Any

import click

from driftline.analysis import settings as config
from driftline.analysis.commands.common import pricing_option
from driftline.common.options import data_option


def _entries(doc: dict[str, Any]) -> Any:
    from driftline.analysis.schedule import alerts, entries

    try:
        alerts.validate(doc.get("alerts", {}))
        found = entries.parse(doc)
    except ValueError as exc:
        raise click.ClickException(f"configuration: {exc}") from exc
    if not found:
        raise click.ClickException("no [[report]] entries in the configuration (see the README: Scheduled reports)")
    return found


@click.command(
    epilog="""\b
Examples:
  driftline --config driftline.toml schedule            # run every [[report]] at its cron slots (UTC)
  driftline schedule --once hourly-drift                 # one run now (for cron, systemd timers, CronJobs)
  driftline schedule --list"""
)
@data_option
@pricing_option
@click.option("--once", "once", default=None, metavar="NAME", help="Run this report once, now, and exit.")
@click.option("--list", "list_only", is_flag=True, help="List the reports and their next run, and exit.")
def schedule(data: str, pricing: str | None, once: str | None, list_only: bool) -> None:
    """Run the [[report]] entries of driftline.toml on their cron schedules (a missed slot is caught up
    once after downtime; no slot runs twice; runs of one report never overlap)."""
    from driftline.analysis.schedule.scheduler import Busy, Scheduler, report_lock

    doc = config.current()
    found = _entries(doc)
    sched = Scheduler(data, found, doc, pricing)
    now = datetime.now(UTC)
    if list_only:
        for name, at in sched.next_slots(now).items():
            e = found[name]
            click.echo(f"{name:<24} {e.cron:<16} next {at.isoformat()}  {e.baseline} → {e.candidate}")
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if once is not None:
        if once not in found:
            raise click.UsageError(f"no report named {once!r}; known: {', '.join(found)}")
        from driftline.analysis.schedule.runner import run_entry

        try:
            with report_lock(sched.locks, once):
                row = run_entry(data, found[once], now.replace(microsecond=0), doc, pricing)
        except Busy as exc:
            raise click.ClickException(str(exc)) from exc
        if row is None:
            raise click.ClickException(f"report {once} could not be built (see the log above)")
        click.echo(f"{once}: {row.verdict}, score {row.score:.2f} → {row.report_path}")
        return
    signal.signal(signal.SIGTERM, lambda *_: sched.stop.set())
    try:
        sched.serve()
    except KeyboardInterrupt:
        sched.stop.set()


@click.command(
    epilog="""\b
Examples:
  driftline history
  driftline history --report hourly-drift --format json"""
)
@data_option
@click.option("--report", default=None, help="Only this report.")
@click.option("--last", type=click.IntRange(min=1), default=30, show_default=True, help="Runs per report to show.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def history(data: str, report: str | None, last: int, fmt: str) -> None:
    """Score and verdict of each scheduled report over time, with a sparkline."""
    from driftline.analysis.schedule import history as store

    try:
        rows = store.read(data, report)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if fmt == "json":
        click.echo(json.dumps(rows, indent=1, default=str))
        return
    if not rows:
        click.echo("no scheduled report has run yet (driftline schedule, or driftline schedule --once NAME)")
        return
    by: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by.setdefault(r["report"], []).append(r)
    for name, items in by.items():
        items = items[-last:]
        click.echo(
            f"{name}  {store.sparkline([float(r['score']) for r in items])}  "
            f"latest {items[-1]['verdict']} {float(items[-1]['score']):.2f}"
        )
        for r in items:
            mark = " (alerted)" if r["alerted"] else ""
            click.echo(
                f"  {r['slot']}  {r['verdict']:<12} {float(r['score']):.2f}  {r['baseline']} → {r['candidate']}{mark}"
            )
    sys.stdout.flush()


@click.command(
    epilog="""\b
Examples:
  driftline watch --against v2.0                       # the last hour of runs vs the v2.0 baseline
  driftline watch --against v1.0 --candidate v2.0 --interval 10"""
)
@data_option
@pricing_option
@click.option("--against", required=True, help="The baseline: a version, latest or previous.")
@click.option("--candidate", default=None, help="A version to follow (default: every run in --window).")
@click.option("--window", default="1h", show_default=True, help="Candidate runs from the last window (1h, 30m).")
@click.option("--agent", default=None)
@click.option("--env", default=None)
@click.option(
    "--interval", type=click.FloatRange(min=0.2), default=5.0, show_default=True, help="Seconds between refreshes."
)
@click.option(
    "--iterations", type=click.IntRange(min=1), default=None, help="Stop after N refreshes (default: Ctrl-C)."
)
def watch(
    data: str,
    pricing: str | None,
    against: str,
    candidate: str | None,
    window: str,
    agent: str | None,
    env: str | None,
    interval: float,
    iterations: int | None,
) -> None:
    """A live view of incoming runs compared to a baseline, refreshed every few seconds."""
    import time

    from rich.console import Console, Group
    from rich.live import Live
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from driftline.analysis.commands.common import load_prices_or_fail, open_data
    from driftline.analysis.diff.build import build_report
    from driftline.analysis.diff.engine import StatSettings
    from driftline.analysis.diff.sides import ANY, SelectionError, SideSpec
    from driftline.analysis.report.format import VERDICT_COLORS, fmt_effect, what
    from driftline.common.times import duration

    try:
        span = duration(window)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--window") from exc
    prices = load_prices_or_fail(pricing)

    def frame() -> tuple[str, Group]:
        """One refresh: a plain line (for logs and pipes) and the rich view (for a terminal)."""
        now = datetime.now(UTC)
        con = open_data(data, pricing, only_runs=True)
        base = SideSpec(against, agent=agent, env=env)
        cand = SideSpec(candidate or ANY, agent=agent, env=env, since=None if candidate else now - span)
        try:
            r = build_report(con, base, cand, settings=StatSettings(bootstrap=200), prices=prices, data_root=data)
        except (SelectionError, ValueError) as exc:
            line = f"{now:%H:%M:%S}  {exc}"
            return line, Group(Text(line, style="red"))
        v = r.verdict
        line = (
            f"{now:%H:%M:%S}  {r.baseline.label} ({r.baseline.runs:,} runs) vs {r.candidate.label} "
            f"({r.candidate.runs:,} runs)   {v.verdict.upper()}  score {v.score:.2f} "
            f"[{v.score_low:.2f}–{v.score_high:.2f}]"
        )
        head = Text(line, style=f"bold {VERDICT_COLORS[v.verdict]}")
        table = Table(header_style="bold", expand=False)
        for col in ("moved", "effect", "p (adj.)"):
            table.add_column(col)
        for d in r.moved[:6]:
            table.add_row(what(d), fmt_effect(d), f"{d.p_adjusted:.2g}")
        lines = [head, table if r.moved else Text("nothing moved beyond its floor")]
        if r.moved:
            line += "   moved: " + "; ".join(f"{what(d)} {fmt_effect(d)}" for d in r.moved[:6])
        if r.hypotheses:
            lines.append(Panel(r.hypotheses[0].text, title="top hypothesis", expand=False))
        if v.verdict == "insufficient":
            lines.append(Text(v.reasons[0]))
            line += f"   {v.reasons[0]}"
        return line, Group(*lines)

    console = Console()
    count = 0
    if not console.is_terminal:  # piped or in CI logs: a live view would print nothing; a line per refresh
        try:
            while iterations is None or count < iterations:
                if count:
                    time.sleep(interval)
                click.echo(frame()[0])
                count += 1
        except KeyboardInterrupt:
            pass
        return
    with Live(frame()[1], console=console, refresh_per_second=4, transient=False) as live:
        count = 1
        try:
            while iterations is None or count < iterations:
                time.sleep(interval)
                live.update(frame()[1])
                count += 1
        except KeyboardInterrupt:
            pass
