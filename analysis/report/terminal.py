"""Terminal rendering with ``rich``: verdict panel first, then what moved, why, and what it costs."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from driftline.analysis.report.format import (
    PERFORMANCE_HEADERS,
    STATUS_TEXT,
    THEME_HEADERS,
    VERDICT_COLORS,
    cost_lines,
    explanation_lines,
    explanation_title,
    fmt_ci,
    fmt_effect,
    fmt_floor,
    fmt_p,
    fmt_value,
    novel_lines,
    performance_notes,
    performance_rows,
    sampling_note,
    score_text,
    segment_moved,
    status_label,
    theme_rows,
    titled,
    what,
)
from driftline.analysis.report.model import DimensionResult, Report

_MARK = {"moved": "✗", "negligible": "~", "unchanged": "·", "no data": "·"}
_STATUS_STYLE = {"moved": "bold red", "negligible": "yellow", "unchanged": "dim", "no data": "dim"}


def _dimension_table(shown: list[DimensionResult]) -> Table:
    table = Table(show_lines=False, header_style="bold", expand=False)
    for col in ("dimension", "baseline", "candidate", "effect", "95% CI", "floor", "p (adj.)", "status"):
        table.add_column(col, justify="right" if col not in ("dimension", "status") else "left")
    for d in shown:
        table.add_row(
            what(d),
            fmt_value(d.baseline_value, d),
            fmt_value(d.candidate_value, d),
            fmt_effect(d),
            fmt_ci(d),
            fmt_floor(d),
            fmt_p(d.p_adjusted),
            Text(status_label(d, shown), style=_STATUS_STYLE[d.status]),
        )
    return table


def _print_compact(console: Console, shown: list[DimensionResult], verbose: bool) -> None:
    """Two short lines per dimension that moved or is negligible (what, then the figures), and the
    unchanged ones named on one wrapped line (each in full with ``verbose``)."""
    quiet = [d for d in shown if d.status in ("unchanged", "no data")] if not verbose else []
    for d in shown:
        if d in quiet or d.echo_of is not None:  # an echo is printed under the dimension it moved with
            continue
        console.print(
            Text.assemble(
                (f"{_MARK[d.status]} ", _STATUS_STYLE[d.status]),
                (what(d), "bold"),
                ("  " + STATUS_TEXT[d.status], _STATUS_STYLE[d.status]),
            )
        )
        console.print(
            f"    {fmt_value(d.baseline_value, d)} → {fmt_value(d.candidate_value, d)}   "
            f"{fmt_effect(d)} {fmt_ci(d)}  floor {fmt_floor(d)}  p {fmt_p(d.p_adjusted)}",
            highlight=False,
            markup=False,
        )
        for e in (e for e in shown if e.echo_of == d.name):
            console.print(f"    = {what(e)} (the same runs)", highlight=False, markup=False)
    if quiet:
        names = ", ".join(titled([d for d in quiet if d.status == "unchanged"]))
        if names:
            console.print(Text.assemble(("· no significant change: ", "dim"), (names, "dim")))


def render(report: Report, console: Console | None = None, verbose: bool = False) -> None:
    console = console or Console()
    v = report.verdict
    color = VERDICT_COLORS[v.verdict]
    console.print(
        f"[bold]Driftline diff[/bold]  {report.baseline.label} ({report.baseline.runs:,} {report.baseline.unit})  →  "
        f"{report.candidate.label} ({report.candidate.runs:,} {report.candidate.unit})"
    )
    shown = [d for d in report.dimensions if verbose or d.status != "no data"]
    shown.sort(key=lambda d: ("moved", "negligible", "unchanged", "no data").index(d.status))
    note = sampling_note(report)
    if note:
        console.print(note, style="yellow", highlight=False, markup=False)
    table = _dimension_table(shown)
    # narrow, or a log: no header squashed to "dimens…", no row wrapped over four lines
    natural = console.measure(table, options=console.options.update_width(100_000)).maximum
    compact = not console.is_terminal or natural > console.width
    if compact:
        _print_compact(console, shown, verbose)
    else:
        console.print(table)
    if report.configuration_changes:
        console.print("[bold]Configuration changes[/bold]")
        for c in report.configuration_changes:
            console.print(f"  • {c.note}", highlight=False)
    if report.segments:
        seg = Table(title=f"Segments by {report.segments[0].key}", header_style="bold")
        for col in ("segment", f"{report.baseline.unit} (b / c)", "verdict", "moved"):
            seg.add_column(col)
        for s in report.segments:
            seg.add_row(
                s.value,
                f"{s.n_baseline} / {s.n_candidate}",
                Text(s.verdict, style=VERDICT_COLORS[s.verdict]),
                segment_moved(s, report.dimensions),
            )
        console.print(seg)
    if report.semantic is not None and compact:
        console.print("[bold]Themes of the answers (semantic dimension)[/bold]")
        for row in theme_rows(report.semantic):
            console.print(f"  {row[0]}   {row[1]} → {row[2]}   {row[3]}", highlight=False, markup=False)
            console.print(Text(f"      e.g. {row[4]}", style="dim"), no_wrap=True, overflow="ellipsis")
    if report.semantic is not None:
        if not compact:
            themes = Table(title="Themes of the answers (semantic dimension)", header_style="bold")
            for col in THEME_HEADERS:  # an example is one line here: the comparer shows answers whole (HTML, console)
                themes.add_column(
                    col,
                    justify="right" if col in ("baseline", "candidate") else "left",
                    no_wrap=col == "example",
                    overflow="ellipsis" if col == "example" else "fold",
                    max_width=40 if col == "example" else None,
                )
            for row in theme_rows(report.semantic):
                style = "bold" if not row[3].startswith("steady") else ""
                themes.add_row(*row[:3], Text(row[3], style=style), row[4])
            console.print(themes)
        novel = novel_lines(report.semantic)
        if novel:
            console.print("[bold]Candidate answers least like any baseline answer[/bold]")
            for line in novel[:3]:
                console.print(f"  • {line}", highlight=False, markup=False)
    if report.performance is not None:
        perf = Table(title="Performance against labels", header_style="bold")
        for col in PERFORMANCE_HEADERS:
            perf.add_column(col, justify="left" if col in ("window", "metric", "status") else "right")
        for row in performance_rows(report.performance):
            style = "bold red" if row[-1] == "fell" else "dim" if row[-1].startswith("provisional") else ""
            perf.add_row(*row[:-1], Text(row[-1], style=style))
        console.print(perf)
        for note in performance_notes(report.performance):
            console.print(f"  • {note}", highlight=False)
    if report.explanation is not None:
        console.print(
            Panel(
                "\n".join(explanation_lines(report.explanation)),
                title=explanation_title(report.explanation),
                expand=False,
            ),
            highlight=False,
            markup=False,
        )
    lines = cost_lines(report.cost)
    if lines:
        console.print(Panel("\n".join(lines), title="Financial impact", expand=False), highlight=False)
    body: list[object] = [
        Text(
            f"{v.verdict.upper()}   {score_text(v)}",
            style=f"bold {color}",
        ),
        Text(""),
    ]
    body += [Text(f"• {r}") for r in v.reasons]
    if report.hypotheses:
        body += [Text(""), Text("Hypotheses (strongest evidence first)", style="bold")]
        body += [Text(f"{i}. {h.text}") for i, h in enumerate(report.hypotheses[:8], 1)]
    body += [Text(""), Text("Next steps", style="bold")] + [Text(f"→ {s}") for s in v.next_steps]
    console.print(Panel(Group(*body), title="Verdict", border_style=color, expand=False))
