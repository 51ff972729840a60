"""``driftline demo`` (what ``make demo`` runs): the whole pipeline on one machine in under a minute."""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import click

from driftline.collector.cli import missing_extra


@click.command(epilog="\b\nExample:\n  driftline demo --runs 300 --data ./demo-data")
@click.option("--data", default=None, help="Data root to write (default: a new temporary directory).")
@click.option("--runs", type=click.IntRange(min=10), default=300, show_default=True, help="Agent runs per version.")
@click.option("--seed", type=int, default=7, show_default=True)
def demo(data: str | None, runs: int, seed: int) -> None:
    """Start a local receiver, run a simulated support agent as v1.0 and a regressed v2.0 through the
    real instrumentation and OTLP exporter, wait until every span is in Parquet, then print the diff and
    write the HTML report."""
    try:
        from driftline.collector.app import CollectorApp
        from driftline.collector.config import CollectorConfig
    except ImportError as exc:
        raise missing_extra(exc, "all") from exc
    from driftline import instrumentation
    from driftline.analysis.commands.common import open_data
    from driftline.analysis.cost import load_prices
    from driftline.analysis.diff.build import build_report
    from driftline.analysis.diff.engine import StatSettings
    from driftline.analysis.diff.sides import SideSpec
    from driftline.analysis.report import html, terminal
    from driftline.analysis.simulated_agent import VERSIONS, run_support_agent

    logging.basicConfig(level=logging.WARNING)
    root = Path(data or tempfile.mkdtemp(prefix="driftline-demo-"))
    started = time.monotonic()
    app = CollectorApp(CollectorConfig(data=str(root), grpc_port=0, http_port=0, flush_interval=0.5)).start()
    try:
        click.echo(f"receiver: OTLP/gRPC 127.0.0.1:{app.grpc_port}, OTLP/HTTP 127.0.0.1:{app.http_port}; data {root}")
        instrumentation.setup(
            "support-agent", environment="demo", endpoint=f"http://127.0.0.1:{app.grpc_port}", protocol="grpc"
        )
        for version in VERSIONS:
            click.echo(f"running the simulated support agent {version}: {runs} runs …")
            run_support_agent(version, runs, seed)
        instrumentation.shutdown()  # flushes the exporter
        if not app.flush(60):
            raise click.ClickException("the receiver did not write everything to Parquet within 60 s")
    finally:
        app.stop()
    click.echo(f"all spans are in Parquet ({time.monotonic() - started:.1f} s)\n")
    con = open_data(str(root), None)
    report = build_report(
        con, SideSpec("v1.0"), SideSpec("v2.0"), settings=StatSettings(), prices=load_prices(), data_root=str(root)
    )
    terminal.render(report)
    out = root / "reports" / "demo-v1.0-v2.0.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html.render(report), encoding="utf-8")
    click.echo(f"\nHTML report: {out}")
    click.echo(
        f"Try next:\n  driftline diff v1.0 v2.0 --data {root} --format markdown\n"
        f"  driftline runs --data {root} --version v2.0 --outcome escalated\n"
        f'  driftline sql --data {root} "SELECT version, count(*), avg(cost) FROM runs GROUP BY 1"\n'
        f"  driftline ui --data {root}   # the web console: http://127.0.0.1:8000/"
    )
