"""Options and helpers shared by the analysis commands (one spelling of --pricing, --agent, …)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from driftline.common.options import data_option, missing_extra

EXIT_GATE = 3  # a gate (--fail-on-drift, --max-score, --budget) did not pass

pricing_option = click.option(
    "--pricing",
    envvar="DRIFTLINE_PRICING",
    type=click.Path(dir_okay=False),
    default=None,
    help="Your pricing file (TOML, as analysis/pricing/*.toml) instead of the shipped list prices.",
)
agent_option = click.option("--agent", envvar="DRIFTLINE_AGENT", default=None, help="Only runs of this agent.")
env_option = click.option("--env", envvar="DRIFTLINE_ENV", default=None, help="Only runs of this environment.")


def _valid_tz(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    from driftline.analysis.db import check_tz

    try:
        return check_tz(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


tz_option = click.option(
    "--tz",
    envvar="DRIFTLINE_TZ",
    default="UTC",
    show_default=True,
    callback=_valid_tz,
    help="Time zone the days of ml_daily are counted in (an IANA name, e.g. Europe/Paris).",
)


def scope_options(f: Callable[..., Any]) -> Callable[..., Any]:
    return data_option(pricing_option(agent_option(env_option(f))))


# a command that runs another command line (bookmark run, git compare): it passes unknown options on
PASS_THROUGH = {"ignore_unknown_options": True, "allow_interspersed_args": False}


def run_command_line(ctx: click.Context, args: list[str]) -> None:
    """Run ``driftline ARGS`` in this process, with this invocation's --config; exits with its code."""
    root = ctx.find_root()
    config = root.params.get("config_path")
    root.command.main(args=(["--config", config] if config else []) + args, prog_name="driftline")


def require_root(data: str) -> None:
    """A local data root that does not exist is a mistyped --data, not an empty one: say so (exit 1)
    rather than print empty tables. Object-store roots (``s3://…``) are checked when read."""
    from pathlib import Path

    if "://" not in data and not Path(data).exists():
        raise click.ClickException(
            f"no data root at {data}: is --data right? (driftline serve or driftline import creates one)"
        )


def open_data(data: str, pricing: str | None, cached_runs: bool = True, only_runs: bool = False) -> Any:
    """A DuckDB connection over DATA with the run cache, or a one-line error."""
    require_root(data)
    try:
        from driftline.analysis.db import connect
    except ImportError as exc:
        raise missing_extra(exc, "analysis") from exc
    try:
        return connect(data, pricing=pricing, cached_runs=cached_runs, only_runs=only_runs)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    except Exception as exc:
        raise click.ClickException(f"cannot open the data root {data}: {str(exc).splitlines()[0]}") from exc


def open_ml_data(data: str, tz: str) -> Any:
    """A DuckDB connection over DATA with the classical-model views (``inferences``, ``labels``...), or a
    one-line error."""
    require_root(data)
    try:
        from driftline.analysis.db import connect_ml
    except ImportError as exc:
        raise missing_extra(exc, "analysis") from exc
    try:
        return connect_ml(data, tz)
    except Exception as exc:
        raise click.ClickException(f"cannot open the data root {data}: {str(exc).splitlines()[0]}") from exc


def load_prices_or_fail(pricing: str | None) -> Any:
    from driftline.analysis.cost import load_prices

    try:
        return load_prices(pricing)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


def since_clause(since: str | None, column: str, clauses: list[str], params: list[Any]) -> None:
    """Add ``column >= since`` (7d, 12h, an ISO date) to a WHERE clause; a bad value is a usage error."""
    from driftline.analysis.diff.sides import SelectionError, parse_time

    try:
        start = parse_time(since)
    except SelectionError as exc:
        raise click.UsageError(str(exc)) from exc
    if start:
        clauses.append(f"CAST({column} AS TIMESTAMPTZ) >= ?")
        params.append(start)
