"""``driftline ui`` (the REST API and web console over a data root) and ``serve --ui-port`` (the same,
in the receiver's process).

Why two ways: a laptop or a small install wants one process that receives spans and shows them; a
larger one runs N receivers behind an OpenTelemetry Collector and one console apart, pointed at the
shared data root (and, for the Ingest page, at a receiver's ``/metrics`` with ``--receiver``).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import click

from driftline.analysis import settings as config
from driftline.analysis.commands.common import data_option, pricing_option
from driftline.common.options import missing_extra

STARTUP_TIMEOUT_S = 30.0
log = logging.getLogger("driftline.ui")


def _imports() -> tuple[Any, Any, Any, Any]:
    try:
        import uvicorn

        from driftline.analysis.api.app import Settings, create_app
        from driftline.analysis.api.ingest import ReceiverSource
    except ImportError as exc:
        raise missing_extra(exc, "ui") from exc
    return uvicorn, Settings, create_app, ReceiverSource


def _settings(settings_cls: Any, *args: Any) -> Any:
    """The API's settings with the driftline.toml in effect; a bad [semantic]/[rca] table stops here."""
    try:
        return settings_cls(*args, config.current())
    except ValueError as exc:
        raise click.ClickException(f"configuration: {exc}") from exc


def _listen(host: str, port: int) -> socket.socket:
    """Bind before starting the server, so a busy port is a clear error instead of a dead thread."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # inherited by accepted connections: without it a keep-alive response written in two parts waits
    # for the browser's delayed ACK (~40 ms on every request after the first)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port} for the console: {exc.strerror or exc}") from exc
    return sock


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve beyond this machine


def _warn_if_exposed(host: str, auth_token: str | None) -> None:
    """The API reads every span (and, with --store-content, what users wrote): say so when anyone on
    the network can read it."""
    if not _is_loopback(host) and not auth_token:
        click.echo(
            f"warning: the console and API listen on {host} without a token — anyone who can reach this "
            "machine can read the data; set DRIFTLINE_UI_TOKEN (--auth-token / --ui-auth-token) or bind 127.0.0.1",
            err=True,
        )


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


class ConsoleServer:
    """uvicorn on a socket we bound, in a thread: for ``serve --ui-port`` and for tests."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        uvicorn, *_ = _imports()
        self.sock = _listen(host, port)
        self.port = self.sock.getsockname()[1]
        self.url = _url(host, self.port)
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> ConsoleServer:
        self.thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise click.ClickException(f"the console did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def _start_with_receiver(
    receiver: Any,
    data: str,
    pricing: str | None,
    host: str,
    port: int,
    auth_token: str | None,
    receiver_host: str,
) -> Callable[[], None]:
    """The ``serve`` hook: the console reads this receiver's metrics in-process. It binds ``host``
    (``--ui-host``, loopback by default), not the receiver's ``--host``: opening OTLP to the network
    must not open the API too."""
    _, settings_cls, create_app, source_cls = _imports()
    source = source_cls(
        read_metrics=lambda: receiver.telemetry.render().decode(),
        read_health=receiver.health,
        otlp_grpc=_url(receiver_host, receiver.grpc_port) if receiver.grpc_port else None,
        otlp_http=_url(receiver_host, receiver.http_port) if receiver.http_port else None,
    )
    _warn_if_exposed(host, auth_token)
    settings = _settings(settings_cls, data, pricing, auth_token, source)
    server = ConsoleServer(create_app(settings), host, port).start()
    click.echo(f"Driftline console on {server.url}/ (API {server.url}/api/v1, docs {server.url}/docs)", err=True)
    return server.stop


UI_OPTIONS = (
    click.Option(
        ["--ui-port"],
        envvar="DRIFTLINE_UI_PORT",
        type=click.IntRange(0, 65535),
        default=None,
        help="Also serve the web console and REST API on this port, in this process (0 = a free port).",
    ),
    click.Option(
        ["--ui-auth-token"],
        envvar="DRIFTLINE_UI_TOKEN",
        default=None,
        help="Require 'Authorization: Bearer TOKEN' on the console's API (and allow writes).",
    ),
    click.Option(
        ["--ui-host"],
        envvar="DRIFTLINE_UI_HOST",
        default="127.0.0.1",
        show_default=True,
        help="Address the console binds (not --host: exposing OTLP does not expose the API).",
    ),
    click.Option(["--ui-pricing"], envvar="DRIFTLINE_PRICING", default=None, help="Pricing file for the console."),
)
UI_EXAMPLE = "driftline serve --data ./driftline-data --ui-port 8000   # receiver + console, one process"


def console_beside_receiver(ui: dict[str, Any], receiver: dict[str, Any]) -> Callable[[Any], Callable[[], None]] | None:
    """``serve``'s extension (see ``collector.cli.ServeExtension``): with ``--ui-port``, the hook that
    starts the console once the receiver is up; without it, nothing."""
    if ui["ui_port"] is None:
        return None
    return partial(
        _start_with_receiver,
        data=receiver["data"],
        pricing=ui["ui_pricing"],
        host=ui["ui_host"],
        port=ui["ui_port"],
        auth_token=ui["ui_auth_token"] or None,
        receiver_host=receiver["host"],
    )


@click.command(
    epilog="""\b
Examples:
  driftline ui --data ./driftline-data                       # console: http://127.0.0.1:8000/
  driftline ui --data s3://telemetry/driftline --receiver http://receiver-0:4318
  DRIFTLINE_UI_TOKEN=secret driftline ui --host 0.0.0.0 --port 8000"""
)
@data_option
@pricing_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--auth-token",
    envvar="DRIFTLINE_UI_TOKEN",
    default=None,
    help="Require 'Authorization: Bearer TOKEN' on every API request (and allow writes).",
)
@click.option(
    "--cors-origin", "cors_origins", multiple=True, help="Allow this browser origin (CORS is off by default)."
)
@click.option(
    "--receiver",
    envvar="DRIFTLINE_RECEIVER_URL",
    default=None,
    metavar="URL",
    help="A receiver's HTTP base URL: the Ingest page reads its /metrics and /healthz.",
)
def ui(
    data: str,
    pricing: str | None,
    host: str,
    port: int,
    auth_token: str | None,
    cors_origins: tuple[str, ...],
    receiver: str | None,
) -> None:
    """Serve the web console (/) and REST API (/api/v1, OpenAPI at /openapi.json, docs at /docs) over DATA."""
    uvicorn, settings_cls, create_app, source_cls = _imports()
    if receiver and not receiver.startswith(("http://", "https://")):
        raise click.BadParameter("use the receiver's HTTP base URL, e.g. http://127.0.0.1:4318", param_hint="receiver")
    source = source_cls(url=receiver, otlp_http=receiver) if receiver else None
    app = create_app(_settings(settings_cls, data, pricing, auth_token or None, source), list(cors_origins))
    _warn_if_exposed(host, auth_token)
    sock = _listen(host, port)
    url = _url(host, sock.getsockname()[1])
    click.echo(f"Driftline console on {url}/ (API {url}/api/v1, docs {url}/docs), data {data}")
    uvicorn.Server(uvicorn.Config(app, log_level="info")).run(sockets=[sock])
