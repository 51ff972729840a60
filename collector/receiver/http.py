"""Stage 1 (HTTP): ``POST /v1/traces`` and ``/v1/logs`` on 4318, plus ``/healthz`` and ``/metrics``.

Why the standard library server: the transport is thin (check method and path, pick a codec by
content type, call the shared Export, answer in the request's encoding), and a threaded HTTP/1.1
server with keep-alive is all the OTLP/HTTP exporters need. Memory is bounded by an in-flight byte
budget: a body that does not fit is refused with 429 + Retry-After before it is read.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.rpc import status_pb2

from driftline.collector import otlp
from driftline.collector.config import CollectorConfig
from driftline.collector.errors import ExportError, Malformed, Overloaded, TooLarge
from driftline.collector.receiver import codec
from driftline.collector.receiver.export import Exporter
from driftline.collector.telemetry import CONTENT_TYPE_LATEST, Telemetry

log = logging.getLogger(__name__)

PATHS: dict[str, otlp.Signal] = {"/v1/traces": "traces", "/v1/logs": "logs"}


class _Budget:
    """Bytes of request bodies held at once; refuses instead of waiting."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            if self.used + n > self.limit and self.used > 0:
                return False
            self.used += n
            return True

    def give(self, n: int) -> None:
        with self._lock:
            self.used -= n


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def _make_handler(
    config: CollectorConfig, exporter: Exporter, telemetry: Telemetry, health: Callable[[], dict]
) -> type[BaseHTTPRequestHandler]:
    budget = _Budget(config.max_inflight_bytes)
    limit = config.max_request_bytes

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "driftline"
        _body_consumed = False

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _error(self, exc: ExportError, media: str) -> None:
            status = status_pb2.Status(code=exc.grpc_code.value[0], message=exc.message)
            headers = {}
            if exc.retry_after is not None:
                headers["Retry-After"] = str(max(1, round(exc.retry_after)))
            if not self._body_consumed:  # unread body bytes would be taken for the next request
                headers["Connection"] = "close"
                self.close_connection = True
            self._send(exc.http_status, codec.encode_response(status, media), media, headers)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._send(200, json.dumps(health()).encode(), "application/json")
            elif path == "/metrics":
                self._send(200, telemetry.render(), CONTENT_TYPE_LATEST)
            elif path in PATHS:
                self._send(405, b"use POST", "text/plain", {"Allow": "POST"})
            else:
                self._send(404, b"not found", "text/plain")

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            signal = PATHS.get(path)
            if signal is None:
                self._send(404, b"not found: POST /v1/traces or /v1/logs", "text/plain", {"Connection": "close"})
                self.close_connection = True
                return
            media = codec.PROTOBUF
            reached_export = False
            self._body_consumed = False
            try:
                media = codec.media_type(self.headers.get("Content-Type"))
                exporter.check_auth(self.headers.get("Authorization"))
                payload = self._read_body(media, signal)
                if payload is None:
                    return
                reached_export = True
                response = exporter.export("http", signal, payload)
            except ExportError as exc:
                if not reached_export:  # export() counts its own refusals
                    exporter.refused("http", signal, exc)
                self._error(exc, media)
                return
            self._send(200, codec.encode_response(response, media), media)

        def _read_body(self, media: str, signal: otlp.Signal) -> bytes | None:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                raise Malformed("chunked request bodies are not supported; send Content-Length")
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                self._send(411, b"Content-Length required", "text/plain", {"Connection": "close"})
                self.close_connection = True
                return None
            if length < 0:
                raise Malformed("negative Content-Length")
            if length > limit:
                raise TooLarge(f"request body of {length} bytes is over the {limit}-byte limit")
            if not budget.take(length):
                raise Overloaded("too many request bytes in flight")
            try:
                body = self.rfile.read(length)
                self._body_consumed = True
                if len(body) != length:
                    raise Malformed("request body shorter than Content-Length")
                body = codec.inflate(body, self.headers.get("Content-Encoding"), limit)
                if media == codec.JSON:
                    body = codec.json_to_protobuf(signal, body)
                return body
            finally:
                budget.give(length)

    return Handler


class HttpReceiver:
    def __init__(
        self, config: CollectorConfig, exporter: Exporter, telemetry: Telemetry, health: Callable[[], dict]
    ) -> None:
        self.config = config
        self.server = _Server(
            (config.host, config.http_port), _make_handler(config, exporter, telemetry, health), bind_and_activate=False
        )
        self.thread: threading.Thread | None = None
        self.port: int | None = None

    def start(self) -> int:
        cfg = self.config
        self.server.server_bind()
        self.server.server_activate()
        if cfg.tls_cert and cfg.tls_key:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="driftline-http", daemon=True, kwargs={"poll_interval": 0.2}
        )
        self.thread.start()
        return self.port

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


__all__ = ["HttpReceiver"]
