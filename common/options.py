"""The click options and messages every ``driftline`` command shares, whichever package defines it.

Why here: ``--data`` must mean the same root, with the same environment variable and default, for
``serve`` (the collector) and ``diff`` (the analysis); and a missing extra is reported in one way.
"""

from __future__ import annotations

import click

# What the ``driftline`` command runs with: whatever it creates (data root files, the WAL, caches,
# reports) holds what clients sent, so it is 0600/0700.
PRIVATE_UMASK = 0o077

data_option = click.option(
    "--data",
    envvar="DRIFTLINE_DATA",
    default="./driftline-data",
    show_default=True,
    help="Data root (local directory or s3://bucket/prefix).",
)


def missing_extra(exc: ImportError, extra: str = "collector") -> click.ClickException:
    """One line saying which extra to install (shared by every command that imports lazily)."""
    return click.ClickException(f"{exc.name or exc} is not installed: pip install 'driftline[{extra}]'")
