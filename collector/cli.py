"""The collector's ``serve`` command and the option helpers every command shares; ``register`` puts
``serve`` and the maintenance commands (``maintenance_cli.py``) on the root group.

Why thin: each command parses flags (every flag also a ``DRIFTLINE_*`` env var), builds the library
object and prints; the work lives in ``app.py`` and the modules the maintenance commands call.
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
    "--embed-outputs",
    "embed_rate",
    envvar="DRIFTLINE_EMBED_OUTPUTS",
    type=click.FloatRange(0, 1, min_open=True),
    default=None,
    metavar="RATE",
    help="Embeddings-only mode: embed this share of answers behind the WAL (e.g. 0.1) and keep the vectors, "
    "never the text, for semantic drift. Needs driftline[semantic].",
)
@click.option(
    "--embed-model",
    type=click.Path(dir_okay=False),
    default=None,
    help="With --embed-outputs: an ONNX sentence-embedding model (default: all-MiniLM-L6-v2).",
)
@click.option(
    "--embed-tokenizer", type=click.Path(dir_okay=False), default=None, help="The tokenizer.json of --embed-model."
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
    embed_rate: float | None,
    embed_model: str | None,
    embed_tokenizer: str | None,
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
        embed_rate=embed_rate or 0.0,
        embed_model=embed_model,
        embed_tokenizer=embed_tokenizer,
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


__all__ = ["PRIVATE_UMASK", "SERVE_HOOKS", "data_option", "duration", "missing_extra", "register", "when"]


def models_import_command() -> click.Command:
    """``driftline models import`` (the analysis package's ``models`` group adds it: it writes data)."""
    from driftline.collector.maintenance_cli import models_import

    return models_import


def register(group: click.Group) -> None:
    from driftline.collector.maintenance_cli import COMMANDS as MAINTENANCE

    for command in (serve, *MAINTENANCE):
        group.add_command(command)
