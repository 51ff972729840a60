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
- a 413 a client can read: a body declared (or found) over the limit is answered at once, and the
  rest of the upload is read and discarded — up to ``LINGER_BYTES`` and ``LINGER_S`` — so the
  client finishes writing and sees the 413 (which OTLP exporters log and drop) instead of a
  connection reset (which they retry forever);
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
LINGER_S = 30.0  # after an early answer, how long the rest of an upload is read and discarded
MAX_CONNECTIONS = 1024  # connections + requests at once; past it uvicorn answers 503
STARTUP_TIMEOUT_S = 30.0


class _Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header deadline and a bounded discard of unread bodies."""

    header_timeout = 10.0
    linger_bytes = 128 * 1024 * 1024

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._linger_timer: asyncio.TimerHandle | None = None
        self._discarded = 0
        self._arm_header_timer(self.header_timeout)

    def _arm_header_timer(self, seconds: float) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._header_timer = self.loop.call_later(seconds, self._close_if, lambda: self.conn.their_state is h11.IDLE)

    def _close_if(self, condition: Callable[[], bool]) -> None:
        if condition() and not self.transport.is_closing():
            self.transport.close()

    def _discarding(self) -> bool:
        cycle = self.cycle
        return cycle is not None and cycle.response_complete and self.conn.their_state is h11.SEND_BODY

    def data_received(self, data: bytes) -> None:
        if self._discarding():
            self._discarded += len(data)
            if self._discarded > self.linger_bytes:
                self.transport.close()
                return
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        if self._header_timer is not None and self.conn.their_state is not h11.IDLE:
            self._header_timer.cancel()  # headers are in: the app's body deadline takes over
            self._header_timer = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if self._discarding():  # answered before the body was read: let the client finish, bounded
            self._discarded = 0
            self._linger_timer = self.loop.call_later(LINGER_S, self._close_if, self._discarding)
        else:
            self._arm_header_timer(self.timeout_keep_alive + self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._header_timer, self._linger_timer):
            if timer is not None:
                timer.cancel()
        super().connection_lost(exc)


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
        taken = 0
        try:
            media = codec.media_type(headers.get("content-type"))
            self.exporter.check_auth(headers.get("authorization"))
            declared = _content_length(headers.get("content-length"))
            if declared is not None and declared > self.limit:
                raise TooLarge(f"request body of {declared} bytes is over the {self.limit}-byte limit")
            body, taken = await self._read_body(receive)
            if body is None:
                return  # the client went away: nothing to answer
            reached_export = True
            loop = asyncio.get_running_loop()
            response = await loop.run_in_executor(
                self.pool, self._export, signal, media, body, headers.get("content-encoding")
            )
        except ExportError as exc:
            if not reached_export:  # export() counts its own refusals
                self.exporter.refused("http", signal, exc)
            await _send(send, exc.http_status, _status_body(exc, media), media, _retry_headers(exc))
            return
        except TimeoutError:
            exc = Malformed(f"request body not received within {self.config.http_body_timeout:g}s")
            self.exporter.refused("http", signal, exc)
            await _send(send, 408, _status_body(exc, media), media, {"connection": "close"})
            return
        finally:
            self.exporter.budget.give(taken)
        await _send(send, 200, codec.encode_response(response, media), media)

    async def _read_body(self, receive: Callable) -> tuple[bytes | None, int]:
        """The body, with the budget taken chunk by chunk as bytes arrive. Returns (body, bytes taken);
        on a refusal the bytes taken so far are given back by the caller's ``finally``."""
        chunks: list[bytes] = []
        size = 0
        deadline = time.monotonic() + self.config.http_body_timeout
        budget = self.exporter.budget
        try:
            while True:
                message = await asyncio.wait_for(receive(), max(0.001, deadline - time.monotonic()))
                if message["type"] == "http.disconnect":
                    return None, size
                chunk = message.get("body", b"")
                if chunk:
                    size += len(chunk)
                    if size > self.limit:
                        raise TooLarge(f"request body is over the {self.limit}-byte limit")
                    if not budget.take(len(chunk)):
                        size -= len(chunk)
                        raise Overloaded("too many request bytes in flight")
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks), size
        except BaseException:
            budget.give(size)
            raise

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
        protocol.linger_bytes = max(_Protocol.linger_bytes, 2 * cfg.max_request_bytes)
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
