"""``driftline explore``: the interactive terminal UI (the [tui] extra)."""

from __future__ import annotations

import click

from driftline.analysis.commands.common import open_data, scope_options
from driftline.common.options import missing_extra


@click.command(
    epilog="""\b
Example:
  driftline explore --data ./driftline-data
  (type a filter such as "version=v2.0 errors" and Enter; Enter on a run opens its span tree;
   a / b keep the listed runs as side A / B; d diffs A → B; q quits)"""
)
@scope_options
def explore(data: str, pricing: str | None, agent: str | None, env: str | None) -> None:
    """Browse runs interactively: filter, open a run's tree, diff two selections."""
    try:
        from driftline.analysis.tui.app import ExploreApp
    except ImportError as exc:
        raise missing_extra(exc, "tui") from exc
    ExploreApp(open_data(data, pricing), data).run()
