"""The root ``driftline`` command group.

Why here: the analysis package owns the user-facing CLI (design §5); each package contributes its own
commands, so the collector's ``serve``/``compact``/``conventions`` are registered from
``driftline.collector.cli``. Commands import their heavy dependencies lazily so that an install with a
single extra still starts.
"""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="driftline")
def cli() -> None:
    """Driftline: behavioural fingerprints and drift reports for LLM agents, from OpenTelemetry spans."""


def main() -> None:
    cli()


def _register_commands() -> None:
    from driftline.analysis.sql_command import sql
    from driftline.collector.cli import register

    register(cli)
    cli.add_command(sql)


_register_commands()


if __name__ == "__main__":
    main()
