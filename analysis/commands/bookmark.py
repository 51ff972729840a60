"""``driftline bookmark``: name a command you run often, then run it by name.

Why: the diff people look at every morning is a long line (``diff @golden latest --since 7d --by
tenant.id``). A bookmark keeps it, as a saved search does in Grafana. Bookmarks are personal, like
shell aliases: one JSON file in the user's config directory (``$DRIFTLINE_BOOKMARKS``, else
``$XDG_CONFIG_HOME/driftline/bookmarks.json``), written atomically.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tempfile
from pathlib import Path

import click

from driftline.analysis.commands.common import PASS_THROUGH, run_command_line

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def bookmarks_file() -> Path:
    env = os.environ.get("DRIFTLINE_BOOKMARKS")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "driftline" / "bookmarks.json"


def load() -> dict[str, str]:
    path = bookmarks_file()
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read bookmarks {path}: {exc}") from exc
    if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
        raise click.ClickException(f"bookmarks {path}: expected an object of name → command")
    return doc


def _store(marks: dict[str, str]) -> None:
    path = bookmarks_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".bookmarks-")
    with os.fdopen(fd, "w") as f:
        json.dump(dict(sorted(marks.items())), f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@click.group(
    epilog="""\b
Examples:
  driftline bookmark save morning "diff @golden latest --since 1d --by tenant.id"
  driftline bookmark run morning
  driftline bookmark run morning --format markdown    # extra arguments are appended
  driftline bookmark list"""
)
def bookmark() -> None:
    """Saved commands, run by name."""


@bookmark.command("save", epilog='\b\nExample:\n  driftline bookmark save daily "diff @golden latest --since 1d"')
@click.argument("name")
@click.argument("command")
@click.option("--force", is_flag=True, help="Replace a bookmark of that name.")
@click.pass_context
def save(ctx: click.Context, name: str, command: str, force: bool) -> None:
    """Save COMMAND (a driftline command line, without "driftline") as NAME."""
    if not NAME.match(name):
        raise click.BadParameter("letters, digits, '.', '_' or '-' (at most 64)", param_hint="NAME")
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="COMMAND") from exc
    if words and words[0] == "driftline":
        words = words[1:]
    root = ctx.find_root().command
    known = getattr(root, "commands", {})
    if not words or words[0] not in known or words[0] == "bookmark":
        raise click.BadParameter(
            f"{command!r} does not start with a driftline command (e.g. diff, runs, compare)", param_hint="COMMAND"
        )
    marks = load()
    if name in marks and not force:
        raise click.ClickException(f"bookmark {name!r} exists ({marks[name]}): replace it with --force")
    marks[name] = shlex.join(words)
    _store(marks)
    click.echo(f"bookmark {name}: driftline {marks[name]}")


@bookmark.command("list", epilog="\b\nExample:\n  driftline bookmark list --json")
@click.option("--json", "as_json", is_flag=True)
def list_(as_json: bool) -> None:
    """The bookmarks, by name."""
    marks = load()
    if as_json:
        click.echo(json.dumps(marks, indent=1))
        return
    if not marks:
        click.echo('no bookmarks yet (driftline bookmark save NAME "diff v1 v2")')
    for name, command in sorted(marks.items()):
        click.echo(f"{name:<20} driftline {command}")


@bookmark.command("delete", epilog="\b\nExample:\n  driftline bookmark delete daily")
@click.argument("name")
def delete(name: str) -> None:
    """Forget the bookmark NAME."""
    marks = load()
    if name not in marks:
        raise click.ClickException(f"no bookmark {name!r}")
    del marks[name]
    _store(marks)
    click.echo(f"deleted bookmark {name}")


@bookmark.command(
    "run",
    context_settings=PASS_THROUGH,
    epilog="\b\nExamples:\n  driftline bookmark run daily\n"
    "  driftline bookmark run daily --format markdown --fail-on-drift",
)
@click.argument("name")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run(ctx: click.Context, name: str, extra: tuple[str, ...]) -> None:
    """Run the bookmark NAME (EXTRA arguments are appended); exits with the command's own code."""
    marks = load()
    if name not in marks:
        raise click.ClickException(f"no bookmark {name!r} (list them with: driftline bookmark list)")
    run_command_line(ctx, shlex.split(marks[name]) + list(extra))
