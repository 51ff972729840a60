"""``driftline conventions``: per service and instrumentation scope, what the mapping table understood,
and which of its spans the analysis counts as model calls.

Why in the analysis package: the mapping half is the collector's (``conventions_report.py``), but which
model spans are *counted* — tokens and cost taken once, from the innermost model call — is a rule of
the analysis SQL (``sql/llm_calls.sql``). A team that turns on a framework's instrumentor beside ours
sees here that the framework's LLM spans are wrappers and the SDK spans under them are the calls.
"""

from __future__ import annotations

import json
from typing import Any

import click

from driftline.analysis.commands.common import open_data
from driftline.common.options import data_option, missing_extra

# Per scope: model spans counted as calls, model spans that wrap another model call (not counted), and
# spans of other operations that carry token counts (an agent's whole-run totals: never counted).
COUNTING_SQL = """
SELECT s.service_name, s.scope_name,
       count(c.span_id) AS counted,
       count(*) FILTER (WHERE s.operation IN ('chat', 'text_completion', 'embeddings') AND c.span_id IS NULL)
           AS wrappers,
       count(*) FILTER (WHERE s.operation NOT IN ('chat', 'text_completion', 'embeddings')
                        AND (s.input_tokens IS NOT NULL OR s.output_tokens IS NOT NULL)) AS other_with_tokens
FROM spans s LEFT JOIN llm_calls c USING (trace_id, span_id)
GROUP BY ALL
"""


def counting(data: str) -> dict[tuple[Any, Any], dict[str, int]]:
    """(service, scope) -> how many of its spans are counted model calls, wrappers, token-carrying others."""
    con = open_data(data, None, cached_runs=False)
    return {
        (service, scope): {"counted": counted, "wrappers": wrappers, "other_with_tokens": other}
        for service, scope, counted, wrappers, other in con.execute(COUNTING_SQL).fetchall()
    }


def _render_counting(c: dict[str, int]) -> str | None:
    if not any(c.values()):
        return None
    parts = [f"model calls counted {c['counted']}"]
    if c["wrappers"]:
        parts.append(f"{c['wrappers']} wrap another model call (not counted)")
    if c["other_with_tokens"]:
        parts.append(f"{c['other_with_tokens']} other spans carry tokens (totals, not counted)")
    return "  " + " · ".join(parts)


@click.command(
    epilog="""\b
Example:
  driftline conventions --data ./driftline-data
  driftline conventions --format json"""
)
@data_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--top", type=int, default=10, show_default=True, help="Unmapped keys to list per group.")
def conventions(data: str, fmt: str, top: int) -> None:
    """Which instrumentation convention each service and scope speaks, what is left unmapped, and which
    spans count as model calls (tokens and cost are taken once, from the innermost model call)."""
    try:
        from driftline.collector.conventions_report import convention_report, render_lines
    except ImportError as exc:
        raise missing_extra(exc) from exc
    try:
        rows = convention_report(data, top=top)
    except FileNotFoundError as exc:
        raise click.ClickException(f"no span data under {data}: is --data right? ({exc})") from exc
    counts = counting(data) if rows else {}
    empty = {"counted": 0, "wrappers": 0, "other_with_tokens": 0}
    for row in rows:
        row["model_calls"] = counts.get((row["service"], row["scope"]), empty)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    else:
        lines = []
        for row in rows:
            lines.extend(render_lines(row))
            extra = _render_counting(row["model_calls"])
            if extra:
                lines.append(extra)
        click.echo("\n".join(lines) if rows else "no spans yet")
    from driftline.collector.conflicts import find_conflicts

    found = find_conflicts(data)
    if found.count:  # on stderr with --format json, so the document stays valid
        click.echo(
            f"! {found.count} span id(s) are used by different spans; only the first of each is analysed "
            "(does the app seed Python's global random? see the README, 'Span ids that repeat'):",
            err=fmt == "json",
        )
        for e in found.examples:
            click.echo(f"    trace {e['trace_id']} span {e['span_id']} ({e['service']})", err=fmt == "json")
