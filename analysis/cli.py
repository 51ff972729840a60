"""The root ``driftline`` command group.

Why here: the analysis package owns the user-facing CLI (design §5); each package contributes its own
commands, so the collector's ``serve``/``compact``/``conventions`` are registered from
``driftline.collector.cli``. Commands import their heavy dependencies lazily so that an install with a
single extra still starts. ``--config`` (or ``DRIFTLINE_CONFIG``, or ``./driftline.toml``) supplies
defaults below flags and environment variables (see ``analysis/settings.py``).
"""

from __future__ import annotations

import os

import click

from driftline.analysis import settings as config
from driftline.common.options import PRIVATE_UMASK


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="driftline")
@click.option(
    "--config",
    "config_path",
    default=None,
    metavar="FILE",
    help="Settings file (default: $DRIFTLINE_CONFIG, else ./driftline.toml when present).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Driftline: behavioural fingerprints and drift reports for LLM agents, from OpenTelemetry spans.

    Exit codes: 0 done, 1 failure, 2 usage error, 3 a gate did not pass (--fail-on-drift, --max-score,
    --budget).
    """
    os.umask(PRIVATE_UMASK)  # data root files, caches and reports hold what clients sent: 0600/0700
    path = config.find(config_path)
    doc = config.load(path)
    ctx.obj = {"config": doc, "config_path": str(path) if path else None}
    if doc:
        config.validate(doc, path, cli)
        ctx.default_map = config.default_map(doc, cli)


def main() -> None:
    cli()


def _register_commands() -> None:
    from driftline.analysis.commands.baseline import baseline
    from driftline.analysis.commands.bookmark import bookmark
    from driftline.analysis.commands.chart import chart
    from driftline.analysis.commands.compare import compare
    from driftline.analysis.commands.config_cmd import config_command
    from driftline.analysis.commands.console import UI_EXAMPLE, UI_OPTIONS, console_beside_receiver, ui
    from driftline.analysis.commands.conventions import conventions
    from driftline.analysis.commands.cost import cost
    from driftline.analysis.commands.demo import demo
    from driftline.analysis.commands.diff import diff
    from driftline.analysis.commands.explore import inspect, runs, versions
    from driftline.analysis.commands.git_cmd import git
    from driftline.analysis.commands.init_cmd import init
    from driftline.analysis.commands.keys import keys
    from driftline.analysis.commands.live import status, tail
    from driftline.analysis.commands.models import models
    from driftline.analysis.commands.playground import playground
    from driftline.analysis.commands.plugins_cmd import plugins_command
    from driftline.analysis.commands.report_file import report, verify
    from driftline.analysis.commands.reset import reset
    from driftline.analysis.commands.runs_derived import RUNS_EXAMPLE, RUNS_OPTIONS, derive_beside_receiver, rebuild
    from driftline.analysis.commands.schedule import history, schedule, watch
    from driftline.analysis.commands.tui import explore
    from driftline.analysis.sql_command import sql
    from driftline.collector.cli import ServeExtension, register

    register(
        cli,
        [
            ServeExtension(UI_OPTIONS, console_beside_receiver, (UI_EXAMPLE,)),
            ServeExtension(RUNS_OPTIONS, derive_beside_receiver, (RUNS_EXAMPLE,)),
        ],
    )
    runs.add_command(rebuild)
    for command in (
        sql,
        conventions,
        diff,
        compare,
        report,
        verify,
        keys,
        cost,
        versions,
        runs,
        inspect,
        baseline,
        config_command,
        demo,
        schedule,
        history,
        watch,
        ui,
        models,
        playground,
        init,
        bookmark,
        git,
        tail,
        status,
        chart,
        reset,
        plugins_command,
        explore,
    ):
        cli.add_command(command)


_register_commands()


if __name__ == "__main__":
    main()
