"""The collector's commands — ``serve``, ``compact``, ``conventions`` — registered on the root group.

Why thin: each command parses flags (every flag also a ``DRIFTLINE_*`` env var), builds the library
object and prints; the work lives in ``app.py``, ``sink/compact.py`` and ``conventions_report.py``.
Heavy imports (grpc, pyarrow) happen inside the commands so ``driftline --help`` starts with any extra.
"""

from __future__ import annotations

import logging
import re
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import click

from driftline.collector.durable import PRIVATE_UMASK

MiB = 1024 * 1024
# ctx.meta key under which another package's options hand ``serve`` callables to run once the receiver
# is up: each gets the started CollectorApp and returns a function that stops what it started. This is
# how ``--ui-port`` (analysis) runs the console in the receiver's process without the collector
# importing the analysis package.
SERVE_HOOKS = "driftline.serve.hooks"


def missing_extra(exc: ImportError, extra: str = "collector") -> click.ClickException:
    """One line saying which extra to install (shared by every command that imports lazily)."""
    return click.ClickException(f"{exc.name or exc} is not installed: pip install 'driftline[{extra}]'")


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def duration(value: str) -> timedelta:
    """``30d``, ``12h``, ``15m``, ``45s``, ``2w``."""
    m = _DURATION.match(value.strip())
    if not m:
        raise ValueError(f"cannot read duration {value!r}: use a number and s, m, h, d or w (e.g. 30d)")
    return timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})


def when(value: str | None, now: datetime | None = None) -> datetime | None:
    """A point in time: a duration ago (``7d``) or an ISO date/time (UTC unless it says otherwise)."""
    if value is None or value == "":
        return None
    now = now or datetime.now(UTC)
    if _DURATION.match(value.strip()):
        return now - duration(value)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise ValueError(f"cannot read time {value!r}: use a duration like 7d, 12h, 30m, or an ISO date") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


data_option = click.option(
    "--data",
    envvar="DRIFTLINE_DATA",
    default="./driftline-data",
    show_default=True,
    help="Data root (local directory or s3://bucket/prefix).",
)


@click.command(
    epilog="""\b
Example:
  driftline serve --data ./driftline-data --host 127.0.0.1 --grpc-port 4317 --http-port 4318
  OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 python my_agent.py"""
)
@data_option
@click.option(
    "--host",
    envvar="DRIFTLINE_HOST",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; 0.0.0.0 to accept from other machines.",
)
@click.option(
    "--grpc-port",
    envvar="DRIFTLINE_GRPC_PORT",
    type=int,
    default=4317,
    show_default=True,
    help="OTLP/gRPC port (0 = a free port).",
)
@click.option(
    "--http-port",
    envvar="DRIFTLINE_HTTP_PORT",
    type=int,
    default=4318,
    show_default=True,
    help="OTLP/HTTP port, also /healthz and /metrics (0 = a free port).",
)
@click.option("--no-grpc", envvar="DRIFTLINE_NO_GRPC", is_flag=True, help="Do not start the gRPC listener.")
@click.option("--no-http", envvar="DRIFTLINE_NO_HTTP", is_flag=True, help="Do not start the HTTP listener.")
@click.option(
    "--auth-token",
    envvar="DRIFTLINE_AUTH_TOKEN",
    default=None,
    help="Require 'Authorization: Bearer TOKEN' on both protocols.",
)
@click.option(
    "--tls-cert",
    envvar="DRIFTLINE_TLS_CERT",
    type=click.Path(dir_okay=False),
    default=None,
    help="PEM certificate: serve both listeners over TLS (with --tls-key).",
)
@click.option(
    "--tls-key",
    envvar="DRIFTLINE_TLS_KEY",
    type=click.Path(dir_okay=False),
    default=None,
    help="PEM private key for --tls-cert.",
)
@click.option(
    "--store-content",
    envvar="DRIFTLINE_STORE_CONTENT",
    is_flag=True,
    help="Store message content in Parquet (after PII scrubbing). Default: hashes and lengths only.",
)
@click.option(
    "--no-scrub-pii",
    envvar="DRIFTLINE_NO_SCRUB_PII",
    is_flag=True,
    help="With --store-content, keep emails/IBANs/phones/IPs/card numbers as they are.",
)
@click.option(
    "--instance-id",
    envvar="DRIFTLINE_INSTANCE_ID",
    default=None,
    help="Names this receiver's files and WAL; unique per receiver sharing a data root (default: hostname).",
)
@click.option(
    "--wal-dir",
    envvar="DRIFTLINE_WAL_DIR",
    default=None,
    help="Local WAL directory (default: DATA/wal; required for an s3:// data root).",
)
@click.option(
    "--agent-version-key",
    envvar="DRIFTLINE_AGENT_VERSION_KEY",
    default=None,
    help="Span or resource attribute that overrides the agent version (e.g. app.release).",
)
@click.option(
    "--max-request-mib",
    envvar="DRIFTLINE_MAX_REQUEST_MIB",
    type=int,
    default=64,
    show_default=True,
    help="Largest request body, after decompression.",
)
@click.option(
    "--max-wal-mib",
    envvar="DRIFTLINE_MAX_WAL_MIB",
    type=int,
    default=1024,
    show_default=True,
    help="Acknowledged data not yet in Parquet before RESOURCE_EXHAUSTED / 429.",
)
@click.option(
    "--max-inflight-mib",
    envvar="DRIFTLINE_MAX_INFLIGHT_MIB",
    type=int,
    default=256,
    show_default=True,
    help="HTTP request bytes being decoded at once.",
)
@click.option(
    "--max-value-chars",
    envvar="DRIFTLINE_MAX_VALUE_CHARS",
    type=int,
    default=8192,
    show_default=True,
    help="Longer attribute values are truncated and marked.",
)
@click.option(
    "--header-timeout",
    envvar="DRIFTLINE_HEADER_TIMEOUT",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds an HTTP client has to send a request's headers.",
)
@click.option(
    "--body-timeout",
    envvar="DRIFTLINE_BODY_TIMEOUT",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds an HTTP client has to send a request's body.",
)
@click.option(
    "--flush-interval",
    envvar="DRIFTLINE_FLUSH_INTERVAL",
    type=float,
    default=1.0,
    show_default=True,
    help="Seconds before acknowledged data is written to Parquet.",
)
@click.option(
    "--workers",
    envvar="DRIFTLINE_WORKERS",
    type=int,
    default=None,
    help="Normalizer processes (default: CPU count, at most 4).",
)
@click.option(
    "--log-level",
    envvar="DRIFTLINE_LOG_LEVEL",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def serve(
    data: str,
    host: str,
    grpc_port: int,
    http_port: int,
    no_grpc: bool,
    no_http: bool,
    auth_token: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    store_content: bool,
    no_scrub_pii: bool,
    instance_id: str | None,
    wal_dir: str | None,
    agent_version_key: str | None,
    max_request_mib: int,
    max_wal_mib: int,
    max_inflight_mib: int,
    max_value_chars: int,
    header_timeout: float,
    body_timeout: float,
    flush_interval: float,
    workers: int | None,
    log_level: str,
) -> None:
    """Receive OTLP traces and logs, make them durable, and write canonical Parquet under DATA."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        from driftline.collector.app import CollectorApp
        from driftline.collector.config import CollectorConfig
    except ImportError as exc:
        raise missing_extra(exc) from exc
    config = CollectorConfig(
        data=data,
        host=host,
        grpc_port=grpc_port,
        http_port=http_port,
        grpc=not no_grpc,
        http=not no_http,
        auth_token=auth_token or None,
        tls_cert=tls_cert,
        tls_key=tls_key,
        store_content=store_content,
        scrub_pii=not no_scrub_pii,
        wal_dir=wal_dir,
        agent_version_key=agent_version_key,
        max_request_bytes=max_request_mib * MiB,
        max_wal_bytes=max_wal_mib * MiB,
        max_inflight_bytes=max_inflight_mib * MiB,
        max_value_chars=max_value_chars,
        http_header_timeout=header_timeout,
        http_body_timeout=body_timeout,
        flush_interval=flush_interval,
    )
    if instance_id:
        config.instance_id = instance_id
    if workers:
        config.workers = workers
    try:
        app = CollectorApp(config)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stops: list[Callable[[], None]] = []
    try:
        app.start()
        stops = [hook(app) for hook in click.get_current_context().meta.get(SERVE_HOOKS, [])]
    except click.ClickException:  # a hook refused (e.g. the console's port is taken)
        app.stop()
        raise
    except (OSError, RuntimeError) as exc:
        app.stop()
        raise click.ClickException(str(exc)) from exc
    while not stop.wait(0.2) and not app.failed.is_set():
        pass
    for stop_hook in stops:
        stop_hook()
    logging.getLogger("driftline.collector").info("shutting down: draining the WAL to Parquet")
    app.stop()
    if app.fatal:  # what a database does after an fsync error: stop, say why, exit non-zero
        raise click.ClickException(
            f"{app.fatal}. The receiver stopped; acknowledged data is safe in the WAL or in Parquet. "
            "Check the disk (dmesg), then start it again: the WAL is replayed."
        )


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
    """Which instrumentation convention each service and scope speaks, and what is left unmapped."""
    try:
        from driftline.collector.conventions_report import convention_report, render_table
    except ImportError as exc:
        raise missing_extra(exc) from exc
    try:
        rows = convention_report(data, top=top)
    except FileNotFoundError as exc:
        raise click.ClickException(f"no span data under {data}: is --data right? ({exc})") from exc
    if fmt == "json":
        import json

        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(render_table(rows))
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


DATASET_NAMES = ("spans", "logs")  # as collector.schema.DATASETS, without importing pyarrow here


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
  driftline doctor --data s3://bucket/driftline --wal-dir /var/lib/driftline/wal --endpoint http://rx:4318"""
)
@data_option
@click.option("--wal-dir", default=None, help="The receiver's WAL directory (default: DATA/wal for a local root).")
@click.option(
    "--endpoint", default=None, help="The receiver's OTLP/HTTP address to probe (e.g. http://127.0.0.1:4318)."
)
def doctor(data: str, wal_dir: str | None, endpoint: str | None) -> None:
    """Check the data root (access, readable partitions, schema versions), the WAL and the receiver;
    print what to fix. Exit 1 when something is broken."""
    try:
        from driftline.collector import doctor as diagnose
    except ImportError as exc:
        raise missing_extra(exc) from exc
    from pathlib import Path

    checks = diagnose.check_root(data)
    wal = Path(wal_dir) if wal_dir else (Path(data) / "wal" if "://" not in data else None)
    if wal is not None:
        checks += diagnose.check_wal(wal)
    if endpoint:
        checks.append(diagnose.check_receiver(endpoint))
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


__all__ = ["PRIVATE_UMASK", "SERVE_HOOKS", "data_option", "duration", "missing_extra", "register", "when"]

COMMANDS = (serve, compact, conventions, prune, export, import_, doctor, replay)


def register(group: click.Group) -> None:
    for command in COMMANDS:
        group.add_command(command)
