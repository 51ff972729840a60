"""Stage 1 (gRPC): ``TraceService/Export`` and ``LogsService/Export`` on 4317.

Why generic handlers with no deserializer: the request arrives as raw bytes, which are exactly what
the WAL stores, so the message is parsed once (for validation) and never re-serialized. Refusals
that should be retried carry a ``RetryInfo`` detail, both in ``grpc-status-details-bin`` (the OTLP
spec) and in ``google.rpc.retryinfo-bin`` (what the Python SDK exporter reads): without it, OTLP
clients drop the data instead of retrying. For the same reason no ``maximum_concurrent_rpcs`` is
set: gRPC would refuse the excess with a bare RESOURCE_EXHAUSTED, which OTLP clients must not retry;
calls waiting for a thread stay in HTTP/2 flow control instead, and the WAL budget refuses with a hint.
A received message also counts against the in-flight byte budget the HTTP listener uses, until its
Export returns: past it the call is refused with RESOURCE_EXHAUSTED and a retry hint.
"""

from __future__ import annotations

import logging
import math
from concurrent import futures
from pathlib import Path

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from driftline.collector import otlp
from driftline.collector.config import CollectorConfig
from driftline.collector.errors import ExportError, Overloaded
from driftline.collector.receiver.export import Exporter

log = logging.getLogger(__name__)

SERVICES: dict[otlp.Signal, str] = {
    "traces": "opentelemetry.proto.collector.trace.v1.TraceService",
    "logs": "opentelemetry.proto.collector.logs.v1.LogsService",
}


def _abort(context: grpc.ServicerContext, exc: ExportError) -> None:
    if exc.retry_after is not None and exc.grpc_code in (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNAVAILABLE,
    ):
        frac, whole = math.modf(exc.retry_after)
        info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=int(whole), nanos=int(frac * 1e9)))
        detail = any_pb2.Any()
        detail.Pack(info)
        status = status_pb2.Status(code=exc.grpc_code.value[0], message=exc.message, details=[detail])
        context.set_trailing_metadata(
            (
                ("grpc-status-details-bin", status.SerializeToString()),
                ("google.rpc.retryinfo-bin", info.SerializeToString()),
            )
        )
    context.abort(exc.grpc_code, exc.message)


def _handler(exporter: Exporter, signal: otlp.Signal):
    def export(request: bytes, context: grpc.ServicerContext) -> bytes:
        taken = 0
        try:
            metadata = dict(context.invocation_metadata())
            exporter.check_auth(metadata.get("authorization"))
            if not exporter.budget.take(len(request)):
                raise Overloaded("too many request bytes in flight")
            taken = len(request)
            return exporter.export("grpc", signal, request).SerializeToString()
        except ExportError as exc:
            if exc.reason in ("unauthenticated", "overloaded") and not taken:  # refused before export()
                exporter.refused("grpc", signal, exc)
            _abort(context, exc)
            raise  # unreachable: abort raises
        finally:
            exporter.budget.give(taken)

    return export


class GrpcReceiver:
    def __init__(self, config: CollectorConfig, exporter: Exporter) -> None:
        self.config = config
        self.exporter = exporter
        self.server: grpc.Server | None = None
        self.port: int | None = None

    def start(self) -> int:
        cfg = self.config
        limit = cfg.max_request_bytes
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=cfg.grpc_threads, thread_name_prefix="driftline-grpc"),
            options=[("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", 4 * 1024 * 1024)],
        )
        handlers = []
        for signal, service in SERVICES.items():
            method = grpc.unary_unary_rpc_method_handler(_handler(self.exporter, signal))
            handlers.append(grpc.method_handlers_generic_handler(service, {"Export": method}))
        self.server.add_generic_rpc_handlers(handlers)
        address = f"{cfg.host}:{cfg.grpc_port}"
        if cfg.tls_cert and cfg.tls_key:
            creds = grpc.ssl_server_credentials([(Path(cfg.tls_key).read_bytes(), Path(cfg.tls_cert).read_bytes())])
            self.port = self.server.add_secure_port(address, creds)
        else:
            self.port = self.server.add_insecure_port(address)
        if not self.port:
            raise OSError(f"could not bind gRPC to {address}")
        self.server.start()
        return self.port

    def stop(self, grace: float) -> None:
        if self.server is not None:
            self.server.stop(grace).wait()
