"""``driftline reset --version V``: delete a version's runs from the data root, after asking.

Why: a test deployment that sent spans to production's receiver, or a version whose data must go
(a customer's request), should leave no trace in the reports. The runs are the ones ``driftline runs
--version V`` lists (same scope options); their traces are erased whole — except a trace that also
holds a run of another version, which is kept and counted, so no other version loses data.
``--dry-run`` shows what would go; otherwise the command asks, or takes ``--yes``.
"""

from __future__ import annotations

import json

import click

from driftline.analysis.commands.common import open_data, scope_options


@click.command(
    epilog="""\b
Examples:
  driftline reset --version v2.1-test --dry-run
  driftline reset --version v2.1-test --env staging --yes"""
)
@scope_options
@click.option("--version", required=True, help="The version whose runs are deleted.")
@click.option("--dry-run", is_flag=True, help="Show what would be deleted; delete nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def reset(
    data: str,
    pricing: str | None,
    agent: str | None,
    env: str | None,
    version: str,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Delete every run of a version (its traces' spans and log records) from the data root."""
    from driftline.analysis.diff.sides import SideSpec, run_filters, unknown_version
    from driftline.analysis.run_cache import release
    from driftline.collector.sink.erase import erase_traces

    con = open_data(data, pricing, only_runs=True)
    unknown = unknown_version(con, version, agent, env)
    if unknown is not None:
        raise click.ClickException(str(unknown))
    where, params = run_filters(SideSpec(version, agent=agent, env=env), version)
    rows = con.execute(
        f"""SELECT trace_id, bool_and(version IS NOT DISTINCT FROM ? AND ({where})) AS only_this, count(*)
            FILTER (WHERE version IS NOT DISTINCT FROM ? AND ({where})) AS runs
            FROM runs WHERE trace_id IN (SELECT trace_id FROM runs WHERE {where}) GROUP BY trace_id""",
        [version, *params, version, *params, *params],
    ).fetchall()
    release(con)
    erase = {r[0] for r in rows if r[1]}
    kept = [r[0] for r in rows if not r[1]]
    runs = sum(r[2] for r in rows if r[1])
    planned = erase_traces(data, erase, dry_run=True)
    summary = {
        "version": version,
        "runs": runs,
        "traces": len(erase),
        "spans": planned.rows["spans"],
        "log_records": planned.rows["logs"],
        "files": planned.files,
        "traces_kept_shared_with_other_versions": len(kept),
        "deleted": False,
    }
    what = (
        f"{runs:,} run(s) of {version}: {planned.rows['spans']:,} spans and {planned.rows['logs']:,} log records "
        f"in {planned.files} file(s)"
        + (f"; {len(kept)} trace(s) also hold other versions' runs and are kept" if kept else "")
    )
    if dry_run:
        click.echo(json.dumps(summary, indent=1) if as_json else f"would delete {what} (dry run: nothing deleted)")
        return
    if not yes:
        if not click.get_text_stream("stdin").isatty():
            raise click.ClickException(f"this deletes {what}: confirm with --yes (or look first with --dry-run)")
        click.confirm(f"Delete {what}?", abort=True)
    done = erase_traces(data, erase)
    summary.update(spans=done.rows["spans"], log_records=done.rows["logs"], files=done.files, deleted=True)
    click.echo(json.dumps(summary, indent=1) if as_json else f"deleted {what}")
