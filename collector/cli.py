"""The collector's ``serve`` command; ``register`` puts ``serve`` (with the options other packages add
through a ``ServeExtension``) and the maintenance commands (``maintenance_cli.py``) on the root group.

Why thin: each command parses flags (every flag also a ``DRIFTLINE_*`` env var), builds the library
object and prints; the work lives in ``app.py`` and the modules the maintenance commands call.
Heavy imports (grpc, pyarrow) happen inside the commands so ``driftline --help`` starts with any extra.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import click

from driftline.common.options import data_option, missing_extra

MiB = 1024 * 1024
ServeHook = Callable[[Any], Callable[[], None]]  # gets the started CollectorApp, returns what stops it


@dataclass(frozen=True)
class ServeExtension:
    """Options another package adds to ``serve``, and what it runs beside the receiver.

    Why explicit: ``--ui-port`` (the analysis package's console) runs in the receiver's process, yet
    the collector never imports the analysis. The root group hands its extensions to ``register``,
    which builds ``serve`` with them; no command is rewritten after it is made. ``start`` gets the
    extension's own option values and the receiver's, and returns a hook to run once the receiver is
    up (or None when its options ask for nothing)."""

    options: tuple[click.Option, ...]
    start: Callable[[dict[str, Any], dict[str, Any]], ServeHook | None]
    examples: tuple[str, ...] = ()


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
    hooks: Sequence[ServeHook] = (),
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
        stops = [hook(app) for hook in hooks]
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


def serve_command(extensions: Sequence[ServeExtension] = ()) -> click.Command:
    """``serve`` with the options of ``extensions`` added (their values go to them, not the receiver)."""
    if not extensions:
        return serve

    def callback(**values: Any) -> None:
        hooks = []
        for ext in extensions:
            own = {o.name: values.pop(o.name) for o in ext.options if o.name}
            hook = ext.start(own, values)
            if hook is not None:
                hooks.append(hook)
        serve.callback(**values, hooks=hooks)  # type: ignore[misc]

    examples = "".join(f"\n  {line}" for ext in extensions for line in ext.examples)
    return click.Command(
        "serve",
        params=[*serve.params, *(o for ext in extensions for o in ext.options)],
        callback=callback,
        help=serve.help,
        epilog=(serve.epilog or "") + examples,
        context_settings=serve.context_settings,
    )


def models_import_command() -> click.Command:
    """``driftline models import`` (the analysis package's ``models`` group adds it: it writes data)."""
    from driftline.collector.maintenance_cli import models_import

    return models_import


def register(group: click.Group, serve_extensions: Sequence[ServeExtension] = ()) -> None:
    """Put ``serve`` (built with ``serve_extensions``) and the maintenance commands on ``group``."""
    from driftline.collector.maintenance_cli import COMMANDS as MAINTENANCE

    for command in (serve_command(serve_extensions), *MAINTENANCE):
        group.add_command(command)
