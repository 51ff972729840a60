"""``driftline models``: the classical models under the data root — list, show, import a reference set.

Why these three: they are the questions a team asks before comparing anything (what is logged, is
it labelled, what do the features look like) and the one write they need (the training set, as a
version to compare production to). Numbers come from ``analysis/ml/queries.py``, the same queries as
the console's Models page.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from driftline.analysis.commands.common import open_ml_data, tz_option
from driftline.collector.cli import models_import_command
from driftline.common.options import data_option

format_option = click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)


def _ts(t: Any) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if isinstance(t, datetime) else "—"


def _num(x: Any, digits: int = 3) -> str:
    if x is None:
        return "—"
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, float):
        return f"{x:,.{digits}g}"
    return str(x)


def _pct(x: Any) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _json_default(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


@click.group(
    invoke_without_command=True,
    epilog="""\b
Examples:
  driftline models
  driftline models show fraud --version v2
  driftline models import fraud --version train --file train.parquet --label is_fraud""",
)
@data_option
@format_option
@click.pass_context
def models(ctx: click.Context, data: str, fmt: str) -> None:
    """Classical models: versions, inference counts, time ranges and label coverage."""
    if ctx.invoked_subcommand is not None:
        return
    from driftline.analysis.ml import queries

    rows = queries.models(open_ml_data(data, "UTC"))
    if fmt == "json":
        click.echo(json.dumps(rows, default=_json_default, indent=1))
        return
    if not rows:
        click.echo(
            f"no inferences under {data} yet: log them from your app with\n"
            "  from driftline.instrumentation.ml import log_inference\n"
            '  log_inference("fraud", "v1", {"amount": 12.5}, prediction=False)'
        )
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(header_style="bold")
    for col in ("model", "version", "inferences", "first", "last", "labelled"):
        table.add_column(col, justify="right" if col in ("inferences", "labelled") else "left")
    for r in rows:
        table.add_row(
            r["model"],
            str(r["version"]),
            f"{r['inferences']:,}",
            _ts(r["first_seen"]),
            _ts(r["last_seen"]),
            _pct(r["label_coverage"]),
        )
    Console().print(table)


@models.command(
    "show",
    epilog="""\b
Examples:
  driftline models show fraud
  driftline models show fraud --version v2 --days 30 --tz Europe/Paris""",
)
@click.argument("model")
@click.option("--version", "version", default=None, help="Profile this version only (default: every version).")
@click.option("--days", type=click.IntRange(min=1), default=14, show_default=True, help="Days of rollups to show.")
@tz_option
@data_option
@format_option
def show(model: str, version: str | None, days: int, tz: str, data: str, fmt: str) -> None:
    """MODEL's features (type, missing rate, range) and its recent daily rollups."""
    from driftline.analysis.ml import queries

    con = open_ml_data(data, tz)
    known = {r["model"] for r in queries.models(con)}
    if model not in known:
        hint = f"known: {', '.join(sorted(known))}" if known else "no model has logged an inference yet"
        raise click.ClickException(f"no inferences of model {model!r} under {data} ({hint})")
    total, features = queries.profile(con, model, version)
    daily = queries.rollups(con, model, days)
    if fmt == "json":
        doc = {
            "model": model,
            "version": version,
            "inferences": total,
            "timezone": tz,
            "features": [f.__dict__ for f in features],
            "daily": daily,
        }
        click.echo(json.dumps(doc, default=_json_default, indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    scope = f"version {version}" if version else "all versions"
    console.print(f"[bold]{model}[/bold] — {total:,} inference(s), {scope}, {len(features)} feature(s)")
    table = Table(header_style="bold", title="features")
    for col in ("feature", "type", "missing", "min", "max", "distinct"):
        table.add_column(col, justify="left" if col in ("feature", "type") else "right")
    for f in features:
        table.add_row(f.name, f.kind, _pct(f.missing_rate), _num(f.minimum), _num(f.maximum), f"{f.distinct:,}")
    console.print(table)
    rollup = Table(header_style="bold", title=f"daily rollups (days in {tz})")
    for col in ("day", "version", "inferences", "p50 ms", "p95 ms", "p99 ms", "labelled", "label delay", "prediction"):
        rollup.add_column(col, justify="left" if col in ("day", "version") else "right")
    for r in daily:
        shares = r["class_shares"]
        prediction = (
            ", ".join(f"{k} {100 * v:.0f}%" for k, v in sorted(shares.items(), key=lambda kv: -kv[1])[:3])
            if shares
            else f"mean {_num(r['prediction_mean'])}"
        )
        delay = r["label_delay_median_s"]
        rollup.add_row(
            str(r["day"]),
            str(r["model_version"]),
            f"{r['inferences']:,}",
            _num(r["latency_p50_ms"]),
            _num(r["latency_p95_ms"]),
            _num(r["latency_p99_ms"]),
            _pct(r["label_coverage"]),
            "—" if delay is None else _duration(delay),
            prediction,
        )
    console.print(rollup)


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.1f}s"


models.add_command(models_import_command(), "import")
