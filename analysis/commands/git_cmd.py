"""``driftline git compare BASE HEAD``: diff the versions built from two git refs.

Why: an app that calls ``setup()`` without a version is named by ``git describe`` of its work tree
(``instrumentation/git_version.py``). Here the same rule names the two refs, so a reviewer types the
branch names of a pull request instead of looking up what each build was called.
"""

from __future__ import annotations

import click

from driftline.analysis.commands.common import PASS_THROUGH, run_command_line
from driftline.instrumentation.git_version import describe


@click.group(
    "git",
    epilog="""\b
Examples:
  driftline git compare main feature/refunds
  driftline git compare v1.3.0 HEAD --format markdown --fail-on-drift""",
)
def git() -> None:
    """Versions named by git (``git describe --tags --always``)."""


@git.command(
    "compare",
    context_settings=PASS_THROUGH,
    epilog="\b\nExamples:\n  driftline git compare main feature/refunds\n"
    "  driftline git compare --repo ../app v1.3.0 HEAD --format markdown --fail-on-drift",
)
@click.argument("base")
@click.argument("head")
@click.argument("diff_args", nargs=-1, type=click.UNPROCESSED)
@click.option("--repo", default=".", show_default=True, help="The git repository the refs belong to.")
@click.pass_context
def compare_refs(ctx: click.Context, base: str, head: str, diff_args: tuple[str, ...], repo: str) -> None:
    """Diff the version built from BASE against the one built from HEAD (other arguments go to diff)."""
    names = []
    for ref in (base, head):
        name = describe(ref, cwd=repo)
        if name is None:
            raise click.ClickException(f"git cannot describe {ref!r} in {repo} (is it a ref of this repository?)")
        names.append(name)
    click.echo(f"{base} = {names[0]}, {head} = {names[1]}", err=True)
    run_command_line(ctx, ["diff", *names, *diff_args])
