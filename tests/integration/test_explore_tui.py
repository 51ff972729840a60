"""`driftline explore` driven headless through Textual's pilot: filter runs, open a run's span tree,
keep two selections and diff them; a bad filter is named, not fatal (issue 19)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static, Tree

from driftline.analysis.db import connect
from driftline.analysis.tui.app import ExploreApp, FilterError, parse_filter
from tests.span_rows import agent_runs


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    agent_runs(root, "v1", 40, tools=("search", "lookup"))
    agent_runs(root, "v2", 40, tools=("lookup",), start_ms=60_000)
    return root


def test_filter_open_a_run_and_diff_two_selections(root: Path) -> None:
    async def drive() -> None:
        app = ExploreApp(connect(str(root), cached_runs=True), str(root))
        async with app.run_test(size=(160, 50)) as pilot:
            table = app.query_one("#runs", DataTable)
            assert table.row_count == 80
            await pilot.press("slash")
            await pilot.press(*"version=v1", "enter")
            assert table.row_count == 40 and set(app.listed) and all(":" in r for r in app.listed)
            await pilot.press("a")
            await pilot.press("slash", "ctrl+a", "ctrl+k")
            await pilot.press(*"version=v2", "enter")
            assert table.row_count == 40
            await pilot.press("b")
            status = str(app.query_one("#status", Static).render())
            assert "A = version=v1 (40)" in status and "B = version=v2 (40)" in status
            # Enter on the first row: that run's span tree (agent, chat, one tool)
            table.focus()
            await pilot.press("enter")
            await pilot.pause()
            tree = app.screen.query_one("#run-tree", Tree)
            labels = [str(n.label) for n in tree.root.children] + [
                str(c.label) for n in tree.root.children for c in n.children
            ]
            assert any(lab.startswith("invoke_agent support") for lab in labels)
            assert any("chat gpt-4o-mini" in lab and "tok" in lab for lab in labels)
            await pilot.press("escape")
            await pilot.press("d")
            await pilot.pause()
            report = str(app.screen.query_one("#diff-report", Static).render())
            assert "Tools called: search" in report and ("BLOCK" in report or "REVIEW" in report)
            await pilot.press("escape")
            await pilot.press("slash", "ctrl+a", "ctrl+k")
            await pilot.press(*"colour=red", "enter")
            assert "use key=value" in str(app.query_one("#status", Static).render())
            assert table.row_count == 40  # the last good filter's runs stay

    asyncio.run(drive())


def test_filter_terms() -> None:
    assert parse_filter("version=v2 errors") == ("true AND version = ? AND status = 'ERROR'", ["v2"])
    with pytest.raises(FilterError):
        parse_filter("version")
