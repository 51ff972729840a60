"""The collector's maintenance commands: ``compact``, ``prune``, ``export``, ``import``, ``doctor``,
``replay`` — everything that writes or checks a data root besides ``serve``. (``conventions`` lives in
the analysis package: it reports which model calls the analysis counts, a rule of the analysis SQL.)

Why apart from ``cli.py``: ``serve`` and the shared option helpers are what the analysis package
imports; these commands are only registered. Each parses flags, calls one library function
(``sink/compact.py``, ``sink/lifecycle.py``, ``doctor.py``,
``replay.py``) and prints; heavy imports happen inside the commands.
"""

from __future__ import annotations

import sys
from datetime import datetime

import click

from driftline.common.options import data_option, missing_extra
from driftline.common.times import duration, when


@click.command(
    epilog="""\b
Example:
  driftline compact --data ./driftline-data --min-age 600"""
)
@data_option
@click.option(
    "--min-age",
    type=float,
    default=600,
    show_default=True,
    help="Leave files younger than this many seconds alone (receivers may still write there).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be merged, change nothing.")
def compact(data: str, min_age: float, dry_run: bool) -> None:
    """Merge small Parquet files per partition, without losing or duplicating rows."""
    try:
        from driftline.collector.sink.compact import compact_root
    except ImportError as exc:
        raise missing_extra(exc) from exc
    try:
        results = compact_root(data, min_age=min_age, dry_run=dry_run)
    except FileNotFoundError as exc:
        raise click.ClickException(f"{exc}: is --data right?") from exc
    merged = [r for r in results if r.sources > 1]
    for r in merged:
        click.echo(
            f"{'would merge' if dry_run else 'merged'} {r.sources} files ({r.rows_in} rows) -> "
            f"{r.rows_out} rows in {r.partition}"
        )
    click.echo(f"{len(merged)} partition(s) {'to compact' if dry_run else 'compacted'}")


DATASET_NAMES = (
    "spans",
    "logs",
    "inferences",
    "labels",
)  # as collector.schema.DATASETS, without importing pyarrow here


def _parsed(value: str | None, what: str) -> datetime | None:
    try:
        return when(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=what) from exc


@click.command(
    epilog="""\b
Examples:
  driftline prune --older-than 30d --dry-run
  driftline prune --older-than 90d --keep-versions v1.0,v2.0   # keep hours holding the baselines' spans"""
)
@data_option
@click.option("--older-than", required=True, help="Drop hour partitions that ended longer ago than this (30d, 12h).")
@click.option("--keep-versions", default="", help="Comma-separated versions whose hours are kept whatever their age.")
@click.option("--dry-run", is_flag=True, help="List what would be dropped, change nothing.")
def prune(data: str, older_than: str, keep_versions: str, dry_run: bool) -> None:
    """Drop whole hour partitions (spans, logs and their cached runs) older than a retention period."""
    try:
        age = duration(older_than)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from exc
    try:
        from driftline.collector.sink.lifecycle import prune_root
    except ImportError as exc:
        raise missing_extra(exc) from exc
    keep = {v.strip() for v in keep_versions.split(",") if v.strip()}
    try:
        results = prune_root(data, age.total_seconds(), keep, dry_run)
    except FileNotFoundError as exc:
        raise click.ClickException(f"{exc}: is --data right?") from exc
    dropped = [r for r in results if r.kept_because is None]
    for r in results:
        verb = "kept" if r.kept_because else ("would drop" if dry_run else "dropped")
        reason = f" ({r.kept_because})" if r.kept_because else ""
        click.echo(f"{verb} {r.dataset}/{r.partition}: {r.files} file(s), {r.bytes:,} bytes{reason}")
    size = sum(r.bytes for r in dropped)
    click.echo(f"{len(dropped)} partition(s), {size:,} bytes {'to drop' if dry_run else 'dropped'}")


@click.command(
    "export",
    epilog="""\b
Examples:
  driftline export --since 7d --to last-week.parquet
  driftline export --since 2025-06-01 --until 2025-06-08 --to june.parquet --dataset logs""",
)
@data_option
@click.option("--to", "target", required=True, help="The Parquet file to write.")
@click.option("--since", default=None, help="Rows from (7d, or an ISO date).")
@click.option("--until", default=None, help="Rows before (7d, or an ISO date).")
@click.option("--dataset", type=click.Choice(sorted(DATASET_NAMES)), default="spans", show_default=True)
def export(data: str, target: str, since: str | None, until: str | None, dataset: str) -> None:
    """Write a time range of the data root to one Parquet file (spans deduplicated by span id)."""
    start, end = _parsed(since, "--since"), _parsed(until, "--until")
    try:
        from driftline.collector.sink.lifecycle import export_range
    except ImportError as exc:
        raise missing_extra(exc) from exc
    try:
        rows = export_range(data, target, start, end, dataset)
    except (FileNotFoundError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"exported {rows:,} {dataset} row(s) to {target}")


@click.command(
    "import",
    epilog="""\b
Example:
  driftline import last-week.parquet --data ./other-root""",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@data_option
def import_(file: str, data: str) -> None:
    """Add the spans of an exported file to the data root, skipping spans it already holds."""
    try:
        from driftline.collector.sink.lifecycle import import_file
    except ImportError as exc:
        raise missing_extra(exc) from exc
    try:
        result = import_file(data, file)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"read {result.read:,} span(s): {result.written:,} written, {result.duplicates:,} already present")


@click.command(
    epilog="""\b
Examples:
  driftline doctor --data ./driftline-data
  driftline doctor --data s3://bucket/driftline --wal-dir /var/lib/driftline/wal --endpoint http://rx:4318
  driftline doctor --json    # for monitoring: every check with its status, detail and fix"""
)
@data_option
@click.option("--wal-dir", default=None, help="The receiver's WAL directory (default: DATA/wal for a local root).")
@click.option(
    "--endpoint", default=None, help="The receiver's OTLP/HTTP address to probe (e.g. http://127.0.0.1:4318)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def doctor(data: str, wal_dir: str | None, endpoint: str | None, as_json: bool) -> None:
    """Check the data root (access, readable partitions, schema versions), the WAL and the receiver;
    print what to fix. Exit 1 when something is broken."""
    try:
        from driftline.collector import doctor as diagnose
    except ImportError as exc:
        raise missing_extra(exc) from exc
    from pathlib import Path

    checks = [diagnose.check_reader(), *diagnose.check_root(data)]
    wal = Path(wal_dir) if wal_dir else (Path(data) / "wal" if "://" not in data else None)
    if wal is not None:
        checks += diagnose.check_wal(wal)
    if endpoint:
        checks.append(diagnose.check_receiver(endpoint))
    errors = sum(c.status == "error" for c in checks)
    if as_json:
        import json
        from dataclasses import asdict

        click.echo(json.dumps([asdict(c) for c in checks], indent=1))
        sys.exit(1 if errors else 0)
    marks = {"ok": "✓", "warn": "!", "error": "✗"}
    for c in checks:
        click.echo(f"{marks[c.status]} {c.what}: {c.detail}")
        if c.fix:
            click.echo(f"    fix: {c.fix}")
    errors = sum(c.status == "error" for c in checks)
    warnings = sum(c.status == "warn" for c in checks)
    click.echo(f"{errors} problem(s), {warnings} warning(s)")
    if errors:
        sys.exit(1)


@click.command(
    epilog="""\b
Examples:
  driftline replay --data ./driftline-data                   # every quarantined segment under DATA/wal
  driftline replay --data s3://bucket/driftline --wal-dir /var/lib/driftline/wal --instance-id rx-0"""
)
@data_option
@click.option("--wal-dir", default=None, help="The receivers' WAL directory (default: DATA/wal for a local root).")
@click.option("--instance-id", default=None, help="Only this receiver's quarantine (default: every instance).")
def replay(data: str, wal_dir: str | None, instance_id: str | None) -> None:
    """Write quarantined WAL segments (acknowledged, failed repeatedly) to Parquet; exit 1 if any fails again."""
    from pathlib import Path

    try:
        from driftline.collector.replay import replay as replay_segments
    except ImportError as exc:
        raise missing_extra(exc) from exc
    if wal_dir is None and "://" in data:
        raise click.UsageError("an object-store --data needs the receivers' local --wal-dir")
    results = replay_segments(data, Path(wal_dir) if wal_dir else Path(data) / "wal", instance_id)
    for r in results:
        if r.error:
            click.echo(f"✗ {r.instance_id}/{r.segment}: failed again ({r.error}); it stays quarantined")
        else:
            click.echo(f"✓ {r.instance_id}/{r.segment}: {r.rows:,} row(s) written")
    failed = sum(r.error is not None for r in results)
    click.echo(f"{len(results) - failed} segment(s) replayed, {failed} failed")
    if failed:
        sys.exit(1)


@click.command(
    "import",
    epilog="""\b
Examples:
  driftline models import fraud --version train --file train.parquet --prediction is_fraud_pred --label is_fraud
  driftline models import pricing --version v3-holdout --file holdout.csv --segment region --at 2026-06-01""",
)
@click.argument("model")
@click.option("--version", "version", required=True, help="The version the rows are stored as (e.g. train).")
@click.option("--file", "file", required=True, type=click.Path(exists=True, dir_okay=False), help=".parquet or .csv")
@click.option("--prediction", default=None, help="Column holding the prediction (not a feature).")
@click.option("--label", default=None, help="Column holding the true label: stored as the rows' labels.")
@click.option("--request-id", default=None, help="Column holding request ids (default: generated).")
@click.option("--segment", "segments", multiple=True, help="A column that is a segment key, not a feature (repeat).")
@click.option("--at", default=None, help="Time the rows are stored at (ISO time, or 7d ago; default now).")
@data_option
def models_import(
    model: str,
    version: str,
    file: str,
    prediction: str | None,
    label: str | None,
    request_id: str | None,
    segments: tuple[str, ...],
    at: str | None,
    data: str,
) -> None:
    """Load a reference set (e.g. the training data) as inferences of MODEL at --version.

    Every column is a feature unless named by --prediction, --label, --request-id or --segment."""
    try:
        from driftline.collector.sink.ml_import import import_reference
    except ImportError as exc:
        raise missing_extra(exc) from exc
    start = _parsed(at, "--at")
    try:
        done = import_reference(
            data,
            model,
            version,
            file,
            prediction=prediction,
            label=label,
            request_id=request_id,
            segments=segments,
            at_ns=None if start is None else int(start.timestamp() * 1e9),
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"imported {done.rows:,} inference(s) of {model} {version} with {len(done.features)} feature(s)"
        + (f" and {done.labels:,} label(s)" if label else "")
    )


COMMANDS = (compact, prune, export, import_, doctor, replay)
