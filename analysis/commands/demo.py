"""``driftline demo`` (what ``make demo`` runs): the whole pipeline on one machine in under a minute."""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import click

from driftline.common.options import missing_extra


@click.command(
    epilog="\b\nExamples:\n  driftline demo --runs 300 --data ./demo-data\n  driftline demo --ml --inferences 5000"
)
@click.option("--data", default=None, help="Data root to write (default: a new temporary directory).")
@click.option("--runs", type=click.IntRange(min=10), default=300, show_default=True, help="Agent runs per version.")
@click.option("--ml", "ml_only", is_flag=True, help="Only the classical-model demo: a fraud model v1 and v2.")
@click.option(
    "--inferences",
    type=click.IntRange(min=10),
    default=None,
    help="Fraud-model inferences per version (default: 300 with the agent, 3000 with --ml).",
)
@click.option("--seed", type=int, default=7, show_default=True)
def demo(data: str | None, runs: int, ml_only: bool, inferences: int | None, seed: int) -> None:
    """Start a local receiver, run a simulated support agent as v1.0 and a regressed v2.0 through the
    real instrumentation and OTLP exporter, wait until every span is in Parquet, then print the diff and
    write the HTML report. Briefly, a simulated fraud-scoring service logs inferences of a model v1 and
    v2 with labels arriving later (``--ml``: only that, with more inferences)."""
    try:
        from driftline.collector.app import CollectorApp
        from driftline.collector.config import CollectorConfig
    except ImportError as exc:
        raise missing_extra(exc, "all") from exc
    from driftline import instrumentation
    from driftline.analysis.commands.common import open_data
    from driftline.analysis.cost import load_prices
    from driftline.analysis.demo.agent import VERSIONS, run_support_agent
    from driftline.analysis.demo.scoring import VERSIONS as MODEL_VERSIONS
    from driftline.analysis.demo.scoring import score
    from driftline.analysis.diff.build import build_report
    from driftline.analysis.diff.engine import StatSettings
    from driftline.analysis.diff.sides import SideSpec
    from driftline.analysis.report import html, terminal

    logging.basicConfig(level=logging.WARNING)
    root = Path(data or tempfile.mkdtemp(prefix="driftline-demo-"))
    started = time.monotonic()
    # content is kept (PII-scrubbed) so the report can compare what the agent says, not only what it does
    config = CollectorConfig(data=str(root), grpc_port=0, http_port=0, flush_interval=0.5, store_content=True)
    app = CollectorApp(config).start()
    try:
        click.echo(f"receiver: OTLP/gRPC 127.0.0.1:{app.grpc_port}, OTLP/HTTP 127.0.0.1:{app.http_port}; data {root}")
        instrumentation.setup(
            "fraud-scorer" if ml_only else "support-agent",
            environment="demo",
            endpoint=f"http://127.0.0.1:{app.grpc_port}",
            protocol="grpc",
            capture_content=True,
        )
        if not ml_only:
            for version in VERSIONS:
                click.echo(f"running the simulated support agent {version}: {runs} runs …")
                run_support_agent(version, runs, seed)
        count = inferences or (3000 if ml_only else 300)
        for model_version in MODEL_VERSIONS:
            n, labels = score(model_version, count, seed)
            name = model_version.version
            click.echo(f"scoring with the simulated fraud model {name}: {n} inferences, {labels} labels")
        instrumentation.shutdown()  # flushes the exporters
        if not app.flush(60):
            raise click.ClickException("the receiver did not write everything to Parquet within 60 s")
    finally:
        app.stop()
    click.echo(f"all spans and events are in Parquet ({time.monotonic() - started:.1f} s)\n")
    if ml_only:
        _ml_summary(root)
        return
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


def _ml_summary(root: Path) -> None:
    from driftline.analysis.commands.models import models

    click.echo("driftline models:")
    models.main(["--data", str(root)], standalone_mode=False)
    click.echo(
        f"\nTry next:\n  driftline models show fraud --data {root}\n"
        f'  driftline sql --data {root} "SELECT model_version, avg(label) FROM inferences_labeled GROUP BY 1"\n'
        f"  driftline ui --data {root}   # the Models page: http://127.0.0.1:8000/models"
    )
