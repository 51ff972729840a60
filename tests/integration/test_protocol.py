"""OTLP protocol details over real sockets: encodings, partial success, errors, auth, TLS, backpressure."""

from __future__ import annotations

import gzip
import json
import os
import ssl
import time
from pathlib import Path

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.certs import self_signed
from tests.conftest import read_dataset
from tests.integration.otlp_payloads import TRACE_METHOD, trace_request

PB = {"Content-Type": "application/x-protobuf"}


def _url(app, path: str = "/v1/traces", scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{app.http_port}{path}"


def _send_span_with(exporter) -> None:
    """One GenAI span through a real SDK exporter, flushed before returning."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("x", attributes={"gen_ai.operation.name": "chat"}):
        pass
    provider.shutdown()


def _grpc_export(app, payload: bytes, metadata=None):
    with grpc.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
        call = channel.unary_unary(TRACE_METHOD)
        return call(payload, metadata=metadata, timeout=10)


def test_otlp_json_with_hex_ids_and_int64_strings(receiver) -> None:
    now = time.time_ns()
    doc = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "js"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "vercel"},
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "parentSpanId": "eee19b7ec3c1b173",
                                "name": "ai.generateText.doGenerate",
                                "kind": 3,
                                "startTimeUnixNano": str(now),
                                "endTimeUnixNano": str(now + 5_000_000),
                                "attributes": [
                                    {"key": "ai.operationId", "value": {"stringValue": "ai.generateText.doGenerate"}},
                                    {"key": "ai.model.id", "value": {"stringValue": "gpt-4o"}},
                                    {"key": "ai.model.provider", "value": {"stringValue": "openai.chat"}},
                                    {"key": "ai.usage.promptTokens", "value": {"intValue": "11"}},
                                ],
                                "unknownField": 1,
                            }
                        ],
                    }
                ],
            }
        ]
    }
    r = httpx.post(_url(receiver), content=json.dumps(doc), headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == {}
    assert receiver.flush(10)
    row = read_dataset(receiver.config.data).to_pylist()[0]
    assert row["trace_id"] == "5b8efff798038103d269b633813fc60c" and row["parent_span_id"] == "eee19b7ec3c1b173"
    assert (row["convention"], row["operation"], row["provider"]) == ("vercel_ai", "chat", "openai")
    assert row["request_model"] == "gpt-4o" and row["input_tokens"] == 11 and row["kind"] == "client"


def test_gzip_protobuf_and_partial_success(receiver) -> None:
    req, ids = trace_request(n=3, bad=2)
    r = httpx.post(
        _url(receiver), content=gzip.compress(req.SerializeToString()), headers={**PB, "Content-Encoding": "gzip"}
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-protobuf"
    resp = ExportTraceServiceResponse.FromString(r.content)
    assert resp.partial_success.rejected_spans == 2 and "trace_id" in resp.partial_success.error_message
    # the same over gRPC
    resp = ExportTraceServiceResponse.FromString(_grpc_export(receiver, trace_request(2, bad=1)[0].SerializeToString()))
    assert resp.partial_success.rejected_spans == 1
    assert receiver.flush(10)
    spans = read_dataset(receiver.config.data).column("span_id").to_pylist()
    assert set(ids) <= set(spans) and len(spans) == 5


def test_duplicates_are_removed(receiver_factory) -> None:
    """Exact resends within one batch are dropped at ingest (across batches the views and compaction
    drop them): a long flush interval keeps the three posts in one batch however loaded the machine."""
    receiver = receiver_factory(flush_interval=30.0)
    req, ids = trace_request(n=4)
    body = req.SerializeToString()
    for _ in range(3):
        assert httpx.post(_url(receiver), content=body, headers=PB).status_code == 200
    assert receiver.flush(10)
    assert sorted(read_dataset(receiver.config.data).column("span_id").to_pylist()) == sorted(ids)


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"\xff\x00garbage", PB, 400),
        (b"{not json", {"Content-Type": "application/json"}, 400),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
            {"Content-Type": "application/json"},
            400,
        ),
        (b"\xc3\x28", {"Content-Type": "application/json"}, 400),
        (b"x", {"Content-Type": "text/plain"}, 415),
        (b"x", {**PB, "Content-Encoding": "br"}, 415),
        (b"not gzip", {**PB, "Content-Encoding": "gzip"}, 400),
    ],
)
def test_bad_http_input_gets_4xx_and_server_stays_up(receiver, body, headers, status) -> None:
    r = httpx.post(_url(receiver), content=body, headers=headers)
    assert r.status_code == status
    if status == 400:
        assert status_pb2.Status.FromString(r.content).message if "json" not in headers["Content-Type"] else r.json()
    req, _ = trace_request(1)
    assert httpx.post(_url(receiver), content=req.SerializeToString(), headers=PB).status_code == 200


def test_all_invalid_spans_is_400_and_grpc_invalid_argument(receiver) -> None:
    req, _ = trace_request(n=0, bad=2)
    r = httpx.post(_url(receiver), content=req.SerializeToString(), headers=PB)
    assert r.status_code == 400 and "trace_id" in status_pb2.Status.FromString(r.content).message
    with pytest.raises(grpc.RpcError) as err:
        _grpc_export(receiver, b"\x0a\xff\xff\xff")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_size_limits_and_gzip_bomb(receiver_factory) -> None:
    app = receiver_factory(max_request_bytes=64 * 1024, max_wal_bytes=1024 * 1024)
    big, _ = trace_request(n=1, attrs={"blob": "x" * 100_000})
    r = httpx.post(_url(app), content=big.SerializeToString(), headers=PB)
    assert r.status_code == 413
    bomb = gzip.compress(b"\0" * (10 * 1024 * 1024))
    r = httpx.post(_url(app), content=bomb, headers={**PB, "Content-Encoding": "gzip"})
    assert r.status_code == 413
    with pytest.raises(grpc.RpcError) as err:
        _grpc_export(app, big.SerializeToString())
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert not dict(err.value.trailing_metadata() or ()).get("google.rpc.retryinfo-bin")


def test_huge_attribute_is_truncated_not_rejected(receiver) -> None:
    req, _ids = trace_request(n=2, attrs={"note": "y" * 50_000})
    assert httpx.post(_url(receiver), content=req.SerializeToString(), headers=PB).status_code == 200
    assert receiver.flush(10)
    rows = read_dataset(receiver.config.data).to_pylist()
    assert len(rows) == 2
    attrs = dict(rows[0]["attributes"])
    assert (
        len(attrs["note"]) < 9000
        and "truncated" in attrs["note"]
        and json.loads(attrs["driftline.truncated"]) == ["note"]
    )


def test_backpressure_retry_hints_and_nothing_lost(receiver_factory) -> None:
    app = receiver_factory(max_request_bytes=2048, max_wal_bytes=2500, flush_interval=30)
    req, _ = trace_request(n=10)
    body = req.SerializeToString()
    assert 1000 < len(body) < 2048
    assert httpx.post(_url(app), content=body, headers=PB).status_code == 200
    r = httpx.post(_url(app), content=body, headers=PB)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    with pytest.raises(grpc.RpcError) as err:
        _grpc_export(app, body)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    md = dict(err.value.trailing_metadata())
    info = error_details_pb2.RetryInfo.FromString(md["google.rpc.retryinfo-bin"])
    assert info.retry_delay.seconds >= 1
    status = status_pb2.Status.FromString(md["grpc-status-details-bin"])
    assert status.details[0].Is(error_details_pb2.RetryInfo.DESCRIPTOR)
    # once the WAL drains, the SDK exporter's retry goes through: nothing acknowledged or retried is lost
    assert app.flush(10)
    _send_span_with(GrpcSpanExporter(endpoint=f"http://127.0.0.1:{app.grpc_port}", insecure=True))
    assert app.flush(10)
    assert read_dataset(app.config.data).num_rows == 11


def test_bearer_token_on_both_protocols(receiver_factory) -> None:
    app = receiver_factory(auth_token="s3cret")
    body = trace_request(1)[0].SerializeToString()
    assert httpx.post(_url(app), content=body, headers=PB).status_code == 401
    assert httpx.post(_url(app), content=body, headers={**PB, "Authorization": "Bearer s3cret"}).status_code == 200
    with pytest.raises(grpc.RpcError) as err:
        _grpc_export(app, body)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    _grpc_export(app, trace_request(1)[0].SerializeToString(), metadata=(("authorization", "Bearer s3cret"),))
    _send_span_with(HttpSpanExporter(endpoint=_url(app), headers={"Authorization": "Bearer s3cret"}))
    assert app.flush(10)
    assert read_dataset(app.config.data).num_rows == 3


def test_tls_on_both_listeners(receiver_factory, tmp_path) -> None:
    cert, key = self_signed(tmp_path)
    app = receiver_factory(tls_cert=cert, tls_key=key)
    body = trace_request(2)[0].SerializeToString()
    trust = ssl.create_default_context(cafile=cert)
    assert httpx.post(_url(app, scheme="https"), content=body, headers=PB, verify=trust).status_code == 200
    creds = grpc.ssl_channel_credentials(Path(cert).read_bytes())
    with grpc.secure_channel(f"localhost:{app.grpc_port}", creds) as channel:
        channel.unary_unary(TRACE_METHOD)(body, timeout=10)
    _send_span_with(GrpcSpanExporter(endpoint=f"https://localhost:{app.grpc_port}", credentials=creds))
    assert app.flush(10)
    assert read_dataset(app.config.data).num_rows == 3  # the raw gRPC call re-sent the HTTP spans: deduplicated


def test_health_and_metrics(receiver) -> None:
    httpx.post(_url(receiver), content=trace_request(3, bad=1)[0].SerializeToString(), headers=PB)
    httpx.post(_url(receiver), content=b"junk", headers=PB)
    assert receiver.flush(10)
    health = httpx.get(_url(receiver, "/healthz")).json()
    assert health["status"] == "ok" and health["grpc_port"] == receiver.grpc_port
    text = httpx.get(_url(receiver, "/metrics")).text
    assert 'driftline_received_items_total{signal="traces"} 4.0' in text
    assert 'driftline_written_items_total{dataset="spans"} 3.0' in text
    assert 'driftline_rejected_items_total{reason="invalid_item",signal="traces"} 1.0' in text
    assert 'outcome="malformed"' in text and "driftline_wal_bytes 0.0" in text
    assert "driftline_flush_seconds_count" in text and "driftline_queue_depth" in text


def test_two_receivers_share_one_data_root(receiver_factory, tmp_path) -> None:
    a = receiver_factory(instance_id="rx-a")
    b = receiver_factory(instance_id="rx-b")
    ids = []
    for app in (a, b):
        req, span_ids = trace_request(5)
        ids += span_ids
        httpx.post(_url(app), content=req.SerializeToString(), headers=PB)
    assert a.flush(10) and b.flush(10)
    files = sorted(p.name.split("-0")[0] for p in Path(a.config.data, "spans").rglob("*.parquet"))
    assert files == ["rx-a", "rx-b"]
    assert sorted(read_dataset(a.config.data).column("span_id").to_pylist()) == sorted(ids)
    with pytest.raises(RuntimeError, match="instance-id"):
        receiver_factory(instance_id="rx-a")
    assert os.stat(Path(a.config.data, "wal", "rx-a")).st_mode & 0o077 == 0


def test_invalid_utf8_in_protobuf_strings_is_refused(receiver) -> None:
    body = trace_request(2)[0].SerializeToString()
    key = b"gen_ai.request.model"
    assert key in body
    bad = body.replace(key, b"\xff" * len(key))  # same length: the wire format stays valid
    r = httpx.post(_url(receiver), content=bad, headers=PB)
    assert r.status_code == 400
    with pytest.raises(grpc.RpcError) as err:
        _grpc_export(receiver, bad)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_budget_is_taken_as_bytes_arrive_and_an_early_refusal_keeps_the_connection_in_step(receiver_factory) -> None:
    """A client that declares a large body holds only the bytes it has sent. A request refused part-way
    (the budget ran out as its bytes arrived) gets a readable 429; the rest of its body is read and
    discarded, so the next request on the same keep-alive connection is parsed as a request."""
    import socket

    app = receiver_factory(max_inflight_bytes=1000, max_request_bytes=64 * 1024)

    def head(length: int) -> bytes:
        return (
            f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            f"Content-Length: {length}\r\n\r\n"
        ).encode()

    def reply(sock: socket.socket) -> bytes:
        out = b""
        while b"\r\n\r\n" not in out:
            out += sock.recv(65536)
        header, _, rest = out.partition(b"\r\n\r\n")
        fields = dict(ln.split(b": ", 1) for ln in header.lower().split(b"\r\n")[1:])
        length = int(fields[b"content-length"])
        while len(rest) < length:
            rest += sock.recv(65536)
        return header

    body = trace_request(2)[0].SerializeToString()
    slow = socket.create_connection(("127.0.0.1", app.http_port), timeout=5)
    slow.sendall(head(60_000) + b"\x00" * 100)  # declares 60 kB, holds 100 bytes of budget
    time.sleep(0.3)
    assert httpx.post(_url(app), content=body, headers=PB).status_code == 200  # declared bytes are not taken
    with socket.create_connection(("127.0.0.1", app.http_port), timeout=5) as sock:
        sock.sendall(head(950) + b"\x00" * 950)  # 100 + 950 > 1000: refused as its bytes arrive
        header = reply(sock)
        assert header.startswith(b"HTTP/1.1 429") and b"retry-after" in header.lower()
        sock.sendall(head(len(body)) + body)  # the same connection: the refused body did not desync it
        assert reply(sock).startswith(b"HTTP/1.1 200")
    slow.close()
