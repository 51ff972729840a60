"""Bounded fuzzing of both protocols: malformed payloads get 4xx / INVALID_ARGUMENT, never a crash."""

from __future__ import annotations

import gzip
import json
import random
import time

import grpc
import httpx
import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.conftest import read_dataset
from tests.integration.otlp_payloads import TRACE_METHOD, trace_request

CASES = 250
TIME_BUDGET = 20.0  # seconds per protocol; the loop stops by itself


def _mutations(rng: random.Random, valid: bytes) -> bytes:
    kind = rng.randrange(6)
    data = bytearray(valid)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 2048))
    if kind == 1:  # flip bytes
        for _ in range(rng.randrange(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if kind == 2:  # truncate
        return bytes(data[: rng.randrange(len(data))])
    if kind == 3:  # splice garbage in the middle
        i = rng.randrange(len(data))
        return bytes(data[:i] + rng.randbytes(rng.randrange(1, 64)) + data[i:])
    if kind == 4:  # huge length prefix
        return b"\x0a\xff\xff\xff\xff\x0f" + bytes(data[6:])
    return bytes(data) * rng.randrange(2, 4)  # repeated messages concatenate: may well be valid


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _request_with_nested_attribute(depth: int) -> tuple[bytes, str]:
    """A one-span request whose attribute ``nested`` is ``depth`` kvlists deep, encoded by hand
    (upb refuses to build messages deeper than its limit in memory, which is what is being tested)."""
    value = AnyValue(string_value="leaf").SerializeToString()
    for _ in range(depth):
        kv = _field(1, b"k") + _field(2, value)  # KeyValue{key, value}
        value = _field(6, _field(1, kv))  # AnyValue{kvlist_value: KeyValueList{values}}
    req, ids = trace_request(1)
    span = req.resource_spans[0].scope_spans[0].spans[0].SerializeToString() + _field(
        9, _field(1, b"nested") + _field(2, value)
    )
    scope = req.resource_spans[0].scope_spans[0]
    scope_bytes = scope.scope.SerializeToString()
    resource_bytes = req.resource_spans[0].resource.SerializeToString()
    scope_spans = _field(1, scope_bytes) + _field(2, span)
    resource_spans = _field(1, resource_bytes) + _field(2, scope_spans)
    return _field(1, resource_spans), ids[0]


@pytest.mark.slow
def test_fuzz_http(receiver) -> None:
    rng = random.Random(1234)
    valid = trace_request(5)[0].SerializeToString()
    url = f"http://127.0.0.1:{receiver.http_port}/v1/traces"
    started = time.monotonic()
    seen = set()
    with httpx.Client(timeout=10) as client:
        for i in range(CASES):
            if time.monotonic() - started > TIME_BUDGET:
                break
            body = _mutations(rng, valid)
            headers = {"Content-Type": "application/x-protobuf"}
            if i % 5 == 0:
                body, headers = gzip.compress(body), {**headers, "Content-Encoding": "gzip"}
            if i % 7 == 0:
                text = json.dumps(
                    {
                        "resourceSpans": [
                            {
                                "scopeSpans": [
                                    {
                                        "spans": [
                                            {
                                                "traceId": rng.randbytes(16).hex(),
                                                "spanId": rng.choice(["", "zz", rng.randbytes(8).hex()]),
                                                "startTimeUnixNano": rng.choice(["1", "x", 5, None]),
                                                "attributes": [
                                                    {
                                                        "key": "a",
                                                        "value": rng.choice([{"intValue": "q"}, {"boolValue": 3}, {}]),
                                                    }
                                                ],
                                            }
                                        ]
                                    }
                                ]
                            }
                        ]
                    }
                )
                body, headers = text[: rng.randrange(len(text) + 1)].encode(), {"Content-Type": "application/json"}
            r = client.post(url, content=body, headers=headers)
            seen.add(r.status_code)
            assert r.status_code in (200, 400, 413, 415), (i, r.status_code, r.text[:200])
    assert 400 in seen
    req, ids = trace_request(3)
    assert (
        httpx.post(url, content=req.SerializeToString(), headers={"Content-Type": "application/x-protobuf"}).status_code
        == 200
    )
    assert receiver.flush(10)
    assert set(ids) <= set(read_dataset(receiver.config.data).column("span_id").to_pylist())


@pytest.mark.slow
def test_fuzz_grpc_and_deep_nesting(receiver) -> None:
    rng = random.Random(99)
    valid = trace_request(5)[0].SerializeToString()
    started = time.monotonic()
    codes = set()
    with grpc.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
        call = channel.unary_unary(TRACE_METHOD)
        for _ in range(CASES):
            if time.monotonic() - started > TIME_BUDGET:
                break
            try:
                call(_mutations(rng, valid), timeout=10)
                codes.add(grpc.StatusCode.OK)
            except grpc.RpcError as exc:
                codes.add(exc.code())
        assert codes <= {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED}
        assert grpc.StatusCode.INVALID_ARGUMENT in codes

        deep, _ = _request_with_nested_attribute(500)
        with pytest.raises(grpc.RpcError) as err:
            call(deep, timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        nested, span_id = _request_with_nested_attribute(20)
        call(nested, timeout=10)
    assert receiver.flush(10)
    rows = {r["span_id"]: r for r in read_dataset(receiver.config.data).to_pylist()}
    assert json.loads(dict(rows[span_id]["attributes"])["nested"])["k"]["k"]
