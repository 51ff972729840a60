"""Listing tables (runs, versions, …) that stay one line per row at any width.

Why: rich fits a table to the terminal by wrapping and cutting cells, so at 80 columns a run id was
cut (and no longer accepted by ``inspect``) and every row wrapped over several lines. Here a cell is
never cut except the one column allowed to give way (``shrink``); on a narrow terminal whole columns
are left out instead, least useful first, and a note says which. Piped output (logs, ``grep``,
``awk``) gets every column at its natural width.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.table import Table

GAP = 3  # between SIMPLE_HEAD columns (padding and the blank divider), edges off


@dataclass(frozen=True)
class Column:
    name: str
    right: bool = False  # numbers
    shrink: bool = False  # may be cut with an ellipsis (one per table: the free-text column)
    drop: int = 0  # left out on a narrow terminal, highest first; 0 = always shown


def _natural(columns: Sequence[Column], widths: dict[str, int]) -> int:
    return sum(widths[c.name] for c in columns) + GAP * (len(columns) - 1)


def print_table(columns: Sequence[Column], rows: Sequence[Sequence[str]], console: Console | None = None) -> None:
    console = console or Console()
    widths = {c.name: max([len(c.name), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)}
    shown = list(columns)
    if console.is_terminal:
        shrinkable = next((c for c in shown if c.shrink), None)
        floor = {c.name: (min(widths[c.name], 12) if c is shrinkable else widths[c.name]) for c in shown}
        for victim in sorted((c for c in columns if c.drop), key=lambda c: -c.drop):
            if _natural(shown, floor) <= console.width:
                break
            shown.remove(victim)
    else:
        console = Console(file=console.file, width=max(console.width, _natural(shown, widths)), color_system=None)
    table = Table(header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    fixed = _natural([c for c in shown if not c.shrink], widths) + GAP
    for c in shown:
        table.add_column(
            c.name,
            justify="right" if c.right else "left",
            no_wrap=True,
            overflow="ellipsis" if c.shrink else "fold",
            min_width=None if c.shrink else widths[c.name],
            max_width=max(8, console.width - fixed) if c.shrink else None,
        )
    index = [columns.index(c) for c in shown]
    for r in rows:
        table.add_row(*(r[i] for i in index))
    console.print(table, highlight=False)
    hidden = [c.name for c in columns if c not in shown]
    if hidden:
        console.print(
            f"[dim](not shown at this width: {', '.join(hidden)}; widen the terminal or use --format json)[/dim]"
        )
