"""Stage 1 (HTTP): ``POST /v1/traces`` and ``/v1/logs`` on 4318, plus ``/healthz`` and ``/metrics``.

Why uvicorn (an asyncio server, h11 parser) and not ``http.server``: one event loop holds every
connection, so a client that never finishes its TLS handshake, its headers or its body costs a
socket, not a thread, and never stalls the accept loop (asyncio runs TLS handshakes per connection,
with a timeout). On top of it this module adds what an OTLP receiver facing the network needs and
uvicorn does not do by itself:

- a header timeout (``_Protocol``): the request line and headers must arrive within
  ``http_header_timeout`` seconds of connecting (or of the previous response), however slowly the
  bytes trickle; a body deadline (``http_body_timeout``) in the app;
- the in-flight byte budget taken as body bytes *arrive*, not as ``Content-Length`` declares them:
  eight clients announcing 60 MiB and trickling hold only what they sent, so everyone else still
  gets through; the budget is the one the gRPC transport uses (``Exporter.budget``);
- a 413 a client can read: for a body declared (or found) over the limit, the rest of the upload
  is read and discarded — up to ``LINGER_BYTES`` and ``LINGER_S`` — before the answer, so the
  client finishes writing and sees the 413 (which OTLP exporters log and drop) instead of a
  connection reset (which they retry forever); the same for a 429 part-way through a body;
- bounded concurrency (``limit_concurrency``: 503 past it) and a bounded thread pool for the
  blocking part (inflate, JSON, validate, the WAL append that waits for fsync).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import h11
import uvicorn
from google.rpc import status_pb2
from uvicorn.protocols.http.h11_impl import H11Protocol

from driftline.collector import otlp
from driftline.collector.config import CollectorConfig
from driftline.collector.errors import ExportError, Malformed, Overloaded, TooLarge
from driftline.collector.receiver import codec
from driftline.collector.receiver.export import Exporter
from driftline.collector.telemetry import CONTENT_TYPE_LATEST, Telemetry

log = logging.getLogger(__name__)

PATHS: dict[str, otlp.Signal] = {"/v1/traces": "traces", "/v1/logs": "logs"}
LINGER_S = 30.0  # before an early answer, how long the rest of an upload is read and discarded
LINGER_BYTES = 128 * 1024 * 1024  # ... and how much of it (at least twice the request limit)
MAX_CONNECTIONS = 1024  # connections + requests at once; past it uvicorn answers 503
STARTUP_TIMEOUT_S = 30.0


class _Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header deadline: the request line and headers must be complete
    within ``header_timeout`` of connecting (or of the previous response plus the keep-alive time),
    however slowly their bytes trickle in (uvicorn resets its keep-alive timer on every byte)."""

    header_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm_header_timer(self.header_timeout)

    def _arm_header_timer(self, seconds: float) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._header_timer = self.loop.call_later(seconds, self._close_if_no_request)

    def _close_if_no_request(self) -> None:
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def handle_events(self) -> None:
        super().handle_events()
        if self._header_timer is not None and self.conn.their_state is not h11.IDLE:
            self._header_timer.cancel()  # headers are in: the app's body deadline takes over
            self._header_timer = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_timer(self.timeout_keep_alive + self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        super().connection_lost(exc)


class _Body:
    """The request body as read so far: its bytes hold the in-flight budget until the Export returns."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.chunks: list[bytes] = []
        self.size = 0  # bytes held (taken from the budget)
        self.complete = False  # the client sent all of it

    def data(self) -> bytes:
        return b"".join(self.chunks)


class _OtlpApp:
    """The ASGI application: routing, the body read against budget and deadline, the Export call."""

    def __init__(
        self, config: CollectorConfig, exporter: Exporter, telemetry: Telemetry, health: Callable[[], dict]
    ) -> None:
        self.config = config
        self.exporter = exporter
        self.telemetry = telemetry
        self.health = health
        self.limit = config.max_request_bytes
        self.linger_bytes = max(LINGER_BYTES, 2 * config.max_request_bytes)
        self.pool = ThreadPoolExecutor(config.http_threads, thread_name_prefix="driftline-http")

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if method == "GET" and path == "/healthz":
            health = self.health()
            status = 503 if health.get("status") == "failed" else 200
            await _send(send, status, json.dumps(health).encode(), "application/json")
        elif method == "GET" and path == "/metrics":
            await _send(send, 200, self.telemetry.render(), CONTENT_TYPE_LATEST)
        elif path not in PATHS:
            await _send(send, 404, b"not found: POST /v1/traces or /v1/logs", "text/plain")
        elif method != "POST":
            await _send(send, 405, b"use POST", "text/plain", {"allow": "POST"})
        else:
            try:
                await self._post(scope, receive, send, PATHS[path])
            except asyncio.CancelledError:  # shutting down with a client still sending: nothing was acked
                return

    async def _post(self, scope: dict, receive: Callable, send: Callable, signal: otlp.Signal) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        media = codec.PROTOBUF
        reached_export = False
        body = _Body(time.monotonic() + self.config.http_body_timeout)
        try:
            media = codec.media_type(headers.get("content-type"))
            self.exporter.check_auth(headers.get("authorization"))
            declared = _content_length(headers.get("content-length"))
            if declared is not None and declared > self.limit:
                raise TooLarge(f"request body of {declared} bytes is over the {self.limit}-byte limit")
            if not await self._read_body(receive, body):
                return  # the client went away: nothing to answer
            reached_export = True
            loop = asyncio.get_running_loop()
            response = await loop.run_in_executor(
                self.pool, self._export, signal, media, body.data(), headers.get("content-encoding")
            )
        except ExportError as exc:
            if not reached_export:  # export() counts its own refusals
                self.exporter.refused("http", signal, exc)
            await self._refuse(exc, media, body, receive, send)
            return
        except TimeoutError:
            exc = Malformed(f"request body not received within {self.config.http_body_timeout:g}s")
            self.exporter.refused("http", signal, exc)
            await _send(send, 408, _status_body(exc, media), media, {"connection": "close"})
            return
        finally:
            self.exporter.budget.give(body.size)
            body.size = 0
        await _send(send, 200, codec.encode_response(response, media), media)

    async def _read_body(self, receive: Callable, body: _Body) -> bool:
        """Read the body into ``body``, taking the budget chunk by chunk as bytes arrive; False when
        the client disconnected. Refusals (too large, budget spent) raise with the body unfinished."""
        budget = self.exporter.budget
        while not body.complete:
            message = await asyncio.wait_for(receive(), max(0.001, body.deadline - time.monotonic()))
            if message["type"] == "http.disconnect":
                return False
            chunk = message.get("body", b"")
            body.complete = not message.get("more_body", False)
            if chunk:
                if body.size + len(chunk) > self.limit:
                    raise TooLarge(f"request body is over the {self.limit}-byte limit")
                if not budget.take(len(chunk)):
                    raise Overloaded("too many request bytes in flight")
                body.size += len(chunk)
                body.chunks.append(chunk)
        return True

    async def _refuse(self, exc: ExportError, media: str, body: _Body, receive: Callable, send: Callable) -> None:
        """Answer a refusal so the client can read it. Clients send the whole body before reading the
        response, so an unread rest is read and discarded first (bounded by ``LINGER_BYTES``, the
        body deadline and ``LINGER_S``); closing on an unread body would reset the connection, which
        OTLP clients retry forever instead of logging the 413/429."""
        headers = _retry_headers(exc)
        self.exporter.budget.give(body.size)
        body.size, body.chunks = 0, []
        if not body.complete and not await self._discard(receive, body):
            headers["connection"] = "close"  # gave up on the rest: the connection cannot be reused
        await _send(send, exc.http_status, _status_body(exc, media), media, headers)

    async def _discard(self, receive: Callable, body: _Body) -> bool:
        deadline = min(body.deadline, time.monotonic() + LINGER_S)
        discarded = 0
        try:
            while discarded <= self.linger_bytes:
                message = await asyncio.wait_for(receive(), max(0.001, deadline - time.monotonic()))
                if message["type"] == "http.disconnect":
                    return False
                discarded += len(message.get("body", b""))
                if not message.get("more_body", False):
                    body.complete = True
                    return True
        except TimeoutError:
            pass
        return False

    def _export(self, signal: otlp.Signal, media: str, body: bytes, encoding: str | None) -> Any:
        body = codec.inflate(body, encoding, self.limit)
        if media == codec.JSON:
            body = codec.json_to_protobuf(signal, body)
        return self.exporter.export("http", signal, body)


def _content_length(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise Malformed(f"Content-Length {value[:20]!r} is not a number") from None


def _status_body(exc: ExportError, media: str) -> bytes:
    return codec.encode_response(status_pb2.Status(code=exc.grpc_code.value[0], message=exc.message), media)


def _retry_headers(exc: ExportError) -> dict[str, str]:
    return {"retry-after": str(max(1, round(exc.retry_after)))} if exc.retry_after is not None else {}


async def _send(send: Callable, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
    raw = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class HttpReceiver:
    def __init__(
        self, config: CollectorConfig, exporter: Exporter, telemetry: Telemetry, health: Callable[[], dict]
    ) -> None:
        self.config = config
        self.app = _OtlpApp(config, exporter, telemetry, health)
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None
        self.sock: socket.socket | None = None
        self.port: int | None = None

    def start(self) -> int:
        cfg = self.config
        family = socket.AF_INET6 if ":" in cfg.host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.sock.bind((cfg.host, cfg.http_port))
        except OSError:
            self.sock.close()
            raise
        self.port = self.sock.getsockname()[1]
        protocol = type("Protocol", (_Protocol,), {"header_timeout": cfg.http_header_timeout})
        self.server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                http=protocol,
                lifespan="off",
                log_config=None,
                access_log=False,
                server_header=False,
                limit_concurrency=MAX_CONNECTIONS,
                backlog=512,
                timeout_keep_alive=15,
                timeout_graceful_shutdown=5,
                ssl_certfile=cfg.tls_cert,
                ssl_keyfile=cfg.tls_key,
                h11_max_incomplete_event_size=64 * 1024,
            )
        )
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, name="driftline-http", daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise OSError(f"the OTLP/HTTP listener did not start on {cfg.host}:{self.port}")
            time.sleep(0.01)
        return self.port

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=15)
        if self.sock is not None:
            self.sock.close()
        self.app.pool.shutdown(wait=True)


__all__ = ["HttpReceiver"]
