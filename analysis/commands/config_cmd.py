"""``driftline config``: the effective settings and where each comes from."""

from __future__ import annotations

import os

import click

from driftline.analysis import settings as config

SHARED = {
    "data": "DRIFTLINE_DATA",
    "pricing": "DRIFTLINE_PRICING",
    "agent": "DRIFTLINE_AGENT",
    "env": "DRIFTLINE_ENV",
    "alpha": "DRIFTLINE_ALPHA",
    "correction": "DRIFTLINE_CORRECTION",
    "min_runs": "DRIFTLINE_MIN_RUNS",
}
DEFAULTS = {
    "data": "./driftline-data",
    "pricing": "(shipped list prices)",
    "agent": None,
    "env": None,
    "alpha": 0.05,
    "correction": "holm",
    "min_runs": 30,
}


@click.command("config", epilog="\b\nExample:\n  driftline --config ./driftline.toml config")
@click.pass_context
def config_command(ctx: click.Context) -> None:
    """Show the effective settings: flags > DRIFTLINE_* environment > driftline.toml > defaults."""
    from driftline.analysis.diff.dimensions import configured

    root = ctx.find_root()
    path = (root.obj or {}).get("config_path")
    doc = config.current(ctx)
    click.echo(f"config file: {path or '(none: ./driftline.toml not found, DRIFTLINE_CONFIG not set)'}")
    for key, env in SHARED.items():
        file_value = doc.get(key, doc.get("stats", {}).get(key))
        if os.environ.get(env) is not None:
            value, source = os.environ[env], f"environment {env}"
        elif file_value is not None:
            value, source = file_value, "driftline.toml"
        else:
            value, source = DEFAULTS[key], "default"
        click.echo(f"  {key:<11} = {value!s:<28} ({source})")
    try:
        dims = configured(doc.get("dimensions"))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        "dimensions: weight (as set; [dimensions.<name>] weight), share (of the error budget when every"
        " dimension has data: a report divides by the weights of the dimensions it tests), floor, block"
    )
    total = sum(d.weight for d in dims)
    for d in dims:
        changed = " (driftline.toml)" if d.name in doc.get("dimensions", {}) else ""
        click.echo(f"  {d.name:<22} {d.weight:<6g} {d.weight / total:6.3f}  {d.floor:<5g} {d.block:<5g}{changed}")
