"""The ``driftline explore`` app: filter runs, open a run's span tree, diff two selections.

Why a TUI next to the console: on a server over SSH, or in a terminal a developer already lives in,
opening a browser is the slow part. The app reads the same views as every command (one DuckDB
connection over the root) and diffs with the same report builder: a selection is the list of runs a
filter shows, compared as a named baseline's runs are (``SideSpec(run_ids=…)``).

Filter syntax: space-separated ``key=value`` terms over ``version``, ``agent``, ``outcome``,
``status`` and ``env``, plus ``errors`` (status ERROR); e.g. ``version=v2.0 outcome=escalated``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static, Tree

FILTER_KEYS = {"version": "version", "agent": "agent", "outcome": "outcome", "status": "status", "env": "environment"}
LIMIT = 500


class FilterError(ValueError):
    pass


def parse_filter(text: str) -> tuple[str, list[Any]]:
    """A WHERE clause (and its parameters) over ``runs`` for the filter text; FilterError names a bad term."""
    clauses, params = ["true"], []
    for term in text.split():
        if term == "errors":
            clauses.append("status = 'ERROR'")
            continue
        key, sep, value = term.partition("=")
        if not sep or key not in FILTER_KEYS or not value:
            raise FilterError(f"{term!r}: use key=value with key in {', '.join(FILTER_KEYS)}, or 'errors'")
        clauses.append(f"{FILTER_KEYS[key]} = ?")
        params.append(value)
    return " AND ".join(clauses), params


@dataclass
class Selection:
    text: str
    run_ids: list[str] = field(default_factory=list)


class RunScreen(Screen):
    """One run's span tree, with durations, tokens and models."""

    BINDINGS: ClassVar = [Binding("escape,q", "app.pop_screen", "Back")]

    def __init__(self, con: Any, run_id: str) -> None:
        super().__init__()
        self.con, self.run_id = con, run_id

    def compose(self) -> ComposeResult:
        yield Header()
        trace_id = self.run_id.split(":", 1)[0]
        rows = self.con.execute(
            "SELECT span_id, parent_span_id, name, duration_ms, input_tokens, output_tokens, "
            "coalesce(response_model, request_model), status_code FROM spans WHERE trace_id = ? ORDER BY start_time",
            [trace_id],
        ).fetchall()
        tree: Tree[str] = Tree(f"run {self.run_id}", id="run-tree")
        nodes = {}
        ids = {r[0] for r in rows}
        for r in rows:
            label = f"{r[2]}  {(r[3] or 0):,.0f} ms"
            if r[4] is not None or r[5] is not None:
                label += f"  {r[4] or 0}→{r[5] or 0} tok"
            if r[6]:
                label += f"  {r[6]}"
            if r[7] == "ERROR":
                label += "  ERROR"
            parent = nodes.get(r[1]) if r[1] in ids else None
            nodes[r[0]] = (parent or tree.root).add(label, expand=True)
        tree.root.expand()
        yield tree
        yield Footer()


class DiffScreen(Screen):
    """The drift report of selection A against selection B (the terminal report's words)."""

    BINDINGS: ClassVar = [Binding("escape,q", "app.pop_screen", "Back")]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Static(self.text, id="diff-report", markup=False)
        yield Footer()


class ExploreApp(App):
    """Runs (newest first) under a filter; Enter opens one; a/b keep the listed runs as a side; d diffs."""

    TITLE = "driftline explore"
    BINDINGS: ClassVar = [
        Binding("a", "keep('a')", "Keep as A"),
        Binding("b", "keep('b')", "Keep as B"),
        Binding("d", "diff", "Diff A → B"),
        Binding("slash", "focus_filter", "Filter"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, con: Any, data_root: str) -> None:
        super().__init__()
        self.con, self.data_root = con, data_root
        self.listed: list[str] = []
        self.sides: dict[str, Selection] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="filter: version=v2.0 outcome=escalated errors  (Enter applies)", id="filter")
        yield Static("", id="status")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#runs", DataTable)
        table.add_columns("run", "start", "version", "agent", "status", "outcome", "ms", "cost", "tools")
        self.refresh_runs("")
        table.focus()

    def refresh_runs(self, text: str) -> None:
        status = self.query_one("#status", Static)
        try:
            where, params = parse_filter(text)
        except FilterError as exc:
            status.update(f"filter: {exc}")
            return
        rows = self.con.execute(
            f"SELECT run_id, start_time, version, agent, status, outcome, duration_ms, cost, tool_sequence "
            f"FROM runs WHERE {where} ORDER BY start_time DESC LIMIT {LIMIT}",
            params,
        ).fetchall()
        table = self.query_one("#runs", DataTable)
        table.clear()
        self.listed = [r[0] for r in rows]
        for r in rows:
            table.add_row(
                r[0][:20],
                r[1].strftime("%Y-%m-%d %H:%M:%S") if r[1] else "—",
                r[2] or "—",
                r[3] or "—",
                r[4],
                r[5] or "—",
                f"{(r[6] or 0):,.0f}",
                "—" if r[7] is None else f"{r[7]:.6f}",
                " → ".join(r[8] or []),
                key=r[0],
            )
        self.filter_text = text
        kept = ", ".join(f"{k.upper()} = {s.text or 'all'} ({len(s.run_ids)})" for k, s in sorted(self.sides.items()))
        status.update(
            f"{len(rows)} run(s)" + (f" (first {LIMIT})" if len(rows) == LIMIT else "") + (f" · {kept}" if kept else "")
        )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.refresh_runs(event.value.strip())
        self.query_one("#runs", DataTable).focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.push_screen(RunScreen(self.con, str(event.row_key.value)))

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_keep(self, side: str) -> None:
        self.sides[side] = Selection(getattr(self, "filter_text", ""), list(self.listed))
        self.refresh_runs(getattr(self, "filter_text", ""))

    def action_diff(self) -> None:
        if set(self.sides) != {"a", "b"}:
            self.query_one("#status", Static).update("keep two selections first: filter, press a; filter, press b")
            return
        self.push_screen(DiffScreen(diff_text(self.con, self.data_root, self.sides["a"], self.sides["b"])))


def diff_text(con: Any, data_root: str, a: Selection, b: Selection) -> str:
    """The terminal report of selection ``a`` against ``b``, as text (or why there is none)."""
    import io

    from rich.console import Console

    from driftline.analysis.cost import load_prices
    from driftline.analysis.diff.build import build_report
    from driftline.analysis.diff.engine import StatSettings
    from driftline.analysis.diff.sides import ANY, SelectionError, SideSpec
    from driftline.analysis.report.terminal import render

    if not a.run_ids or not b.run_ids:
        return "a selection holds no runs: change its filter and keep it again"
    sides = [
        SideSpec(ANY, run_ids=tuple(s.run_ids), label=f"{name} ({s.text or 'all runs'})")
        for name, s in (("A", a), ("B", b))
    ]
    try:
        report = build_report(
            con, sides[0], sides[1], settings=StatSettings(), prices=load_prices(), data_root=data_root
        )
    except (SelectionError, ValueError) as exc:
        return f"no report: {exc}"
    out = io.StringIO()
    render(report, Console(file=out, width=110, color_system=None, force_terminal=False))
    return out.getvalue()
