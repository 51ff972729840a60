"""``driftline tail`` and ``driftline status``: what is arriving, and the state of the root at a glance.

Why together: both are read-only views of the present — ``tail`` a run per line as runs arrive (as
``tail -f`` does for a log), ``status`` one screen an operator reads first (receiver health, ingest
rate, runs per version in the last day, the latest scheduled verdicts, the baselines in force, disk).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from driftline.analysis.commands.common import open_data, require_root, scope_options

TAIL_COLUMNS = (
    "run_id",
    "start_time",
    "version",
    "agent",
    "status",
    "outcome",
    "duration_ms",
    "llm_calls",
    "tool_calls",
    "cost",
    "tool_sequence",
)
OVERLAP = timedelta(minutes=10)  # a run may be derived after runs that started later than it did


def _query(
    con: Any, version: str | None, agent: str | None, env: str | None, since: datetime | None, limit: int
) -> list:
    from driftline.analysis.diff.sides import ANY, SideSpec, run_filters

    where, params = run_filters(SideSpec(version or ANY, agent=agent, env=env), version)
    if since is not None:
        where += " AND start_time >= ?"
        params.append(since)
    return con.execute(
        f"SELECT * FROM (SELECT {', '.join(TAIL_COLUMNS)} FROM runs WHERE {where} "
        f"ORDER BY start_time DESC, run_id DESC LIMIT {int(limit)}) ORDER BY start_time, run_id",
        params,
    ).fetchall()


def _line(row: tuple, fmt: str) -> str:
    r = dict(zip(TAIL_COLUMNS, row, strict=True))
    if fmt == "json":
        r["start_time"] = r["start_time"].isoformat() if r["start_time"] else None
        return json.dumps(r, default=str)
    when = r["start_time"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if r["start_time"] else "—"
    cost = f"${r['cost']:.6f}" if r["cost"] is not None else "$—"
    tools = " → ".join(r["tool_sequence"] or []) or "—"
    return (
        f"{when}  {r['run_id']}  {r['version'] or '—'}  {r['agent'] or '—'}  {r['status']}  "
        f"{r['outcome'] or '—'}  {(r['duration_ms'] or 0):,.0f} ms  {r['llm_calls']} llm  "
        f"{r['tool_calls']} tools  {cost}  {tools}"
    )


@click.command(
    epilog="""\b
Examples:
  driftline tail                        # the last 10 runs, a line each
  driftline tail -f --version v2.1      # then every new run of v2.1 as it arrives (Ctrl-C stops)
  driftline tail -n 50 --format json    # JSON lines, for scripts"""
)
@scope_options
@click.option("-f", "--follow", is_flag=True, help="Keep printing runs as they arrive.")
@click.option("-n", "--lines", "count", type=click.IntRange(min=0), default=10, show_default=True)
@click.option("--version", default=None, help="Only runs of this version.")
@click.option(
    "--interval", type=click.FloatRange(min=0.2), default=2.0, show_default=True, help="Seconds between looks."
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def tail(
    data: str,
    pricing: str | None,
    agent: str | None,
    env: str | None,
    follow: bool,
    count: int,
    version: str | None,
    interval: float,
    fmt: str,
) -> None:
    """The latest runs, a line each (oldest first); with -f, new runs as they arrive."""
    from driftline.analysis.diff.sides import unknown_version

    con = open_data(data, pricing, only_runs=True)
    if version and not follow:
        unknown = unknown_version(con, version, agent, env)
        if unknown is not None:
            raise click.ClickException(str(unknown))
    rows = _query(con, version, agent, env, None, count) if count else []
    seen = {r[0] for r in rows}
    newest = max((r[1] for r in rows if r[1] is not None), default=None)
    for r in rows:
        click.echo(_line(r, fmt))
    if not follow:
        return
    from driftline.analysis.run_cache import release

    release(con)
    start = (newest or datetime.now(UTC)) - OVERLAP
    try:
        while True:
            time.sleep(interval)
            con = open_data(data, pricing, only_runs=True)  # the run cache derives only the hours that changed
            fresh = [r for r in _query(con, version, agent, env, start, 100_000) if r[0] not in seen]
            release(con)
            for r in fresh:
                seen.add(r[0])
                click.echo(_line(r, fmt))
            if fresh:
                newest = max([newest, *(r[1] for r in fresh if r[1] is not None)], key=lambda t: t or start)
                start = (newest or start) - OVERLAP
    except KeyboardInterrupt:
        return


def _disk(data: str) -> dict[str, int]:
    from pathlib import Path

    out: dict[str, int] = {}
    root = Path(data)
    for child in sorted(root.iterdir()) if root.is_dir() else []:
        if child.is_dir():
            out[child.name] = sum(f.stat().st_size for f in child.rglob("*") if f.is_file())
    return out


def _ingest(data: str, minutes: int = 10) -> dict[str, Any]:
    """Spans written in the last ``minutes`` (from the files' footers) and the rate they make."""
    import pyarrow.parquet as pq

    import driftline.collector.inventory as inventory
    from driftline.collector.schema import filesystem

    fs, base = filesystem(data)
    cutoff = (time.time() - minutes * 60) * 1e9
    found = inventory.scan(fs, base, "spans")
    recent = [f for f in found.files if f.mtime_ns >= cutoff]
    spans = sum(pq.read_metadata(f.path, filesystem=fs).num_rows for f in recent)
    last = max((f.mtime_ns for f in found.files), default=None)
    return {
        "window_minutes": minutes,
        "spans": spans,
        "spans_per_s": round(spans / (minutes * 60), 2),
        "last_write": datetime.fromtimestamp(last / 1e9, UTC).isoformat() if last else None,
    }


@click.command(
    epilog="""\b
Examples:
  driftline status
  driftline status --endpoint http://collector:4318 --format json"""
)
@scope_options
@click.option(
    "--endpoint",
    default="http://127.0.0.1:4318",
    show_default=True,
    help="The receiver's OTLP/HTTP address (its /healthz is asked).",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def status(data: str, pricing: str | None, agent: str | None, env: str | None, endpoint: str, fmt: str) -> None:
    """One screen: receiver health, ingest rate, runs per version (24 h), latest verdicts, baselines, disk."""
    from driftline.analysis import baselines
    from driftline.analysis.schedule import history
    from driftline.collector.doctor import check_receiver

    require_root(data)
    receiver = check_receiver(endpoint)
    con = open_data(data, pricing, only_runs=True)
    day = datetime.now(UTC) - timedelta(hours=24)
    per_version = [
        {"version": v, "runs": n, "errors": e}
        for v, n, e in con.execute(
            "SELECT coalesce(version, '(none)'), count(*), count(*) FILTER (WHERE status = 'ERROR') FROM runs "
            "WHERE start_time >= ? AND (? IS NULL OR agent = ?) AND (? IS NULL OR environment = ?) "
            "GROUP BY 1 ORDER BY 2 DESC, 1",
            [day, agent, agent, env, env],
        ).fetchall()
    ]
    latest: dict[str, dict[str, Any]] = {}
    for row in history.read(data):
        latest[row["report"]] = row
    verdicts = [
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items() if k in _VERDICT_KEYS}
        for row in latest.values()
    ]
    current = baselines.current(data, agent, env)
    doc = {
        "data": data,
        "receiver": {"endpoint": endpoint, "ok": receiver.status == "ok", "detail": receiver.detail},
        "ingest": _ingest(data),
        "runs_last_24h": per_version,
        "scheduled_reports": verdicts,
        "baseline": None if current is None else {"version": current["version"], "set_at": current["set_at"]},
        "named_baselines": [r["name"] for r in baselines.names(data)],
        "disk_bytes": _disk(data),
    }
    if fmt == "json":
        click.echo(json.dumps(doc, indent=1, default=str))
        return
    _print_status(doc)


_VERDICT_KEYS = ("report", "slot", "verdict", "score", "baseline", "candidate")


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _print_status(doc: dict[str, Any]) -> None:
    r, ing = doc["receiver"], doc["ingest"]
    click.echo(f"data root   {doc['data']}")
    click.echo(f"receiver    {'ok' if r['ok'] else 'DOWN'}: {r['detail']}")
    click.echo(
        f"ingest      {ing['spans']:,} spans in the last {ing['window_minutes']} min ({ing['spans_per_s']}/s); "
        f"last write {ing['last_write'] or 'never'}"
    )
    runs = doc["runs_last_24h"]
    click.echo(
        "runs (24 h) "
        + (", ".join(f"{v['version']} {v['runs']:,} ({v['errors']} errors)" for v in runs) if runs else "none")
    )
    reports = doc["scheduled_reports"]
    click.echo(
        "schedules   "
        + (
            "; ".join(f"{v['report']}: {str(v.get('verdict')).upper()} at {v.get('slot')}" for v in reports)
            if reports
            else "no scheduled report has run (driftline schedule)"
        )
    )
    b = doc["baseline"]
    named = doc["named_baselines"]
    click.echo(
        "baseline    "
        + (f"{b['version']} (set {b['set_at']})" if b else "none for this scope")
        + (f"; named: {', '.join('@' + n for n in named)}" if named else "")
    )
    disk = doc["disk_bytes"]
    click.echo("disk        " + (", ".join(f"{k} {_size(v)}" for k, v in disk.items()) or "empty"))
