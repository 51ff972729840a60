"""Export errors and the one place that maps them to gRPC codes, HTTP statuses and retry hints.

Why one table: the OTLP specification makes retryability a property of the status code (and, for
RESOURCE_EXHAUSTED, of a RetryInfo detail). Both transports must say the same thing for the same
failure, or one protocol's clients would drop data the other's retry.
"""

from __future__ import annotations

import grpc


class ExportError(Exception):
    """A refused Export. ``retry_after`` (seconds) is set only when the client should retry."""

    grpc_code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    http_status: int = 500
    reason: str = "internal"
    retry_after: float | None = None

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retry_after is not None:
            self.retry_after = retry_after


class Malformed(ExportError):
    """Bad data: never retryable (INVALID_ARGUMENT / 400)."""

    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    http_status = 400
    reason = "malformed"


class UnsupportedMediaType(ExportError):
    """HTTP only: a Content-Type or Content-Encoding the receiver does not speak (415)."""

    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    http_status = 415
    reason = "unsupported_media_type"


class TooLarge(ExportError):
    """Over the size limit, before or after decompression: retrying the same body cannot help."""

    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 413
    reason = "too_large"


class Unauthenticated(ExportError):
    grpc_code = grpc.StatusCode.UNAUTHENTICATED
    http_status = 401
    reason = "unauthenticated"


class Overloaded(ExportError):
    """The WAL or the in-flight budget is full: retry after the hint (RESOURCE_EXHAUSTED+RetryInfo / 429)."""

    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 429
    reason = "overloaded"
    retry_after = 1.0


class Unavailable(ExportError):
    """Shutting down, or the WAL could not be written: retryable (UNAVAILABLE / 503)."""

    grpc_code = grpc.StatusCode.UNAVAILABLE
    http_status = 503
    reason = "unavailable"
    retry_after = 2.0


class DiskFull(Unavailable):
    """The WAL's disk is full: nothing was written; retry once space returns (UNAVAILABLE / 503)."""

    reason = "disk_full"
    retry_after = 1.0
