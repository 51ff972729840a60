"""``driftline plugins``: which extensions are installed, and whether each loads."""

from __future__ import annotations

import json

import click


@click.command(
    "plugins",
    epilog="""\b
Examples:
  driftline plugins
  driftline plugins --json""",
)
@click.option("--json", "as_json", is_flag=True)
def plugins_command(as_json: bool) -> None:
    """Installed plugins by kind (entry points driftline.dimensions, .hypotheses, .renderers, .alerts).

    Exits 1 when one fails to load (the others still work; reports skip the broken one)."""
    from driftline.analysis.plugins import GROUPS, discover

    found = discover()
    if as_json:
        rows = [
            {"group": p.group, "name": p.name, "value": p.value, "distribution": p.distribution, "error": p.error}
            for p in found
        ]
        click.echo(json.dumps(rows, indent=1))
    else:
        for group, what in GROUPS.items():
            mine = [p for p in found if p.group == group]
            click.echo(f"{group}  ({what})")
            for p in mine:
                state = "ok" if p.error is None else f"FAILED: {p.error}"
                click.echo(f"  {p.name:<20} {p.value}  [{p.distribution or '?'}]  {state}")
            if not mine:
                click.echo("  (none)")
    if any(p.error for p in found):
        raise SystemExit(1)
