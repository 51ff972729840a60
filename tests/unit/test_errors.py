"""One table from error to gRPC status, HTTP status and retry hint (the OTLP retry contract)."""

from __future__ import annotations

import grpc
import pytest

from driftline.collector import errors

TABLE = [
    (errors.Malformed, grpc.StatusCode.INVALID_ARGUMENT, 400, False),
    (errors.UnsupportedMediaType, grpc.StatusCode.INVALID_ARGUMENT, 415, False),
    (errors.TooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED, 413, False),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED, 401, False),
    (errors.Overloaded, grpc.StatusCode.RESOURCE_EXHAUSTED, 429, True),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE, 503, True),
]


@pytest.mark.parametrize(("cls", "code", "status", "retryable"), TABLE)
def test_mapping(cls, code, status, retryable) -> None:
    exc = cls("x")
    assert (exc.grpc_code, exc.http_status, exc.retry_after is not None) == (code, status, retryable)
