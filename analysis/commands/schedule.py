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
from driftline.collector.cli import data_option


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

    rows = store.read(data, report)
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
