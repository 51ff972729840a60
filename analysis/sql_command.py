"""``driftline sql``: any SQL over the ``spans``, ``logs``, ``llm_calls`` and ``tool_calls`` views.

Why a thin command: the views come from ``analysis/db.py`` (the one connection factory), so the CLI
only runs the query and prints — a box table for people, CSV or JSON for scripts — or, with no
query, reads statements from the terminal until ``.quit``.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from typing import Any

import click

from driftline.analysis.commands.common import pricing_option, require_root, tz_option
from driftline.common.options import data_option, missing_extra

EXAMPLES = """\b
Example:
  driftline sql "SELECT agent_version, count(*) AS spans FROM spans GROUP BY 1"
  driftline sql --format json "SELECT tool_name, count(*) FROM tool_calls GROUP BY ALL"
  driftline sql --tz Europe/Paris "SELECT * FROM ml_daily WHERE model = 'fraud'"
  driftline sql            # interactive: end statements with ';', leave with .quit"""


def _rows(result: Any) -> tuple[list[str], list[tuple]]:
    columns = [d[0] for d in result.description or ()]
    return columns, result.fetchall()


def _emit(con: Any, query: str, fmt: str, limit: int | None) -> None:
    if fmt == "table":
        relation = con.sql(query)
        if relation is None:
            return
        relation.show(max_rows=limit or 10_000, max_width=200)
        return
    result = con.execute(query)
    columns, rows = _rows(result)
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        click.echo(json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=str, indent=1))


def _shell(con: Any, fmt: str) -> None:
    interactive = sys.stdin.isatty()
    if interactive:
        from driftline.analysis.db import ML_VIEWS, VIEWS

        click.echo(f"driftline sql — views: {', '.join((*VIEWS, *ML_VIEWS))}. End with ';', leave with .quit")
    buffer: list[str] = []
    while True:
        try:
            line = input("driftline> " if not buffer else "      ...> ") if interactive else sys.stdin.readline()
        except EOFError:
            break
        if not interactive and line == "":
            break
        if line.strip() in (".quit", ".exit", "\\q"):
            break
        buffer.append(line)
        statement = "\n".join(buffer).strip()
        if statement.endswith(";"):
            buffer = []
            try:
                _emit(con, statement.rstrip(";"), fmt, None)
            except Exception as exc:  # a bad statement must not end the session
                click.echo(f"error: {exc}", err=True)
    if buffer and "".join(buffer).strip():
        _emit(con, "\n".join(buffer).strip().rstrip(";"), fmt, None)


@click.command(epilog=EXAMPLES)
@click.argument("query", required=False)
@data_option
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--limit", type=int, default=None, help="Rows to show in table format (default: all).")
@pricing_option
@tz_option
def sql(query: str | None, data: str, fmt: str, limit: int | None, pricing: str | None, tz: str) -> None:
    """Run SQL against the views of DATA: spans, logs, llm_calls, tool_calls, llm_call_costs, runs, the agent
    semantics (decisions, signals, failures, memory_ops, agent_events), and for classical models
    inferences, labels, label_events, inferences_labeled, ml_daily."""
    try:
        from driftline.analysis.db import connect
    except ImportError as exc:
        raise missing_extra(exc, "analysis") from exc
    require_root(data)
    try:
        # the runs view reads the per-hour run cache (derived on first use) when the query needs it
        needs_runs = query is None or re.search(r"\bruns\b", query, re.IGNORECASE) is not None
        con = connect(data, pricing=pricing, cached_runs=needs_runs, tz=tz)
    except Exception as exc:
        raise click.ClickException(f"cannot open the data root {data}: {exc}") from exc
    if query is None:
        _shell(con, fmt)
        return
    try:
        _emit(con, query, fmt, limit)
    except Exception as exc:
        raise click.ClickException(f"query failed: {str(exc).splitlines()[0]}") from exc
