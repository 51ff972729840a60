"""Hostile OTLP/HTTP clients against a real ``driftline serve`` over TLS on loopback: the receiver
keeps answering everyone else, and an over-limit body gets a 413 that urllib and requests can read.
Every client here is bounded in bytes and time and stops by itself."""

from __future__ import annotations

import socket
import ssl
import threading
import time
import urllib.error
import urllib.request

import httpx
import pytest
import requests

from tests.certs import self_signed
from tests.integration.otlp_payloads import trace_request
from tests.receiver_process import ReceiverProcess

pytestmark = pytest.mark.slow

PB = {"Content-Type": "application/x-protobuf"}
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def tls_receiver(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("hostile")
    cert, key = self_signed(tmp)
    rx = ReceiverProcess(
        tmp / "data",
        "--tls-cert",
        cert,
        "--tls-key",
        key,
        "--header-timeout",
        "2",
        "--body-timeout",
        "8",
        "--workers",
        "1",
        instance_id="hostile",
    ).start()
    context = ssl.create_default_context(cafile=cert)
    yield rx, context
    rx.terminate()


def _post(rx: ReceiverProcess, context: ssl.SSLContext, body: bytes, timeout: float = 10) -> int:
    url = f"https://127.0.0.1:{rx.http_port}/v1/traces"
    return httpx.post(url, content=body, headers=PB, verify=context, timeout=timeout).status_code


def _tls_socket(rx: ReceiverProcess, context: ssl.SSLContext) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", rx.http_port), timeout=10)
    return context.wrap_socket(raw, server_hostname="localhost")


def test_idle_connection_on_the_tls_port_does_not_stall_others(tls_receiver) -> None:
    rx, context = tls_receiver
    idle = [socket.create_connection(("127.0.0.1", rx.http_port), timeout=5) for _ in range(3)]  # no ClientHello
    try:
        time.sleep(0.2)
        started = time.monotonic()
        assert _post(rx, context, trace_request(3)[0].SerializeToString(), timeout=5) == 200
        assert time.monotonic() - started < 3
    finally:
        for s in idle:
            s.close()


def test_slow_uploads_hold_only_the_bytes_they_sent(tls_receiver) -> None:
    """Eight clients declare 60 MiB bodies and trickle; declared bytes would exhaust the 256 MiB
    budget, bytes received do not: a 20 MiB export from someone else is accepted meanwhile. The
    trickling clients are cut off by the body deadline."""
    rx, context = tls_receiver
    stop = threading.Event()
    outcomes: list[bytes] = []

    def trickle() -> None:
        with _tls_socket(rx, context) as s:
            s.sendall(
                b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                + f"Content-Length: {60 * MiB}\r\n\r\n".encode()
            )
            deadline = time.monotonic() + 15
            try:
                while not stop.is_set() and time.monotonic() < deadline:
                    s.sendall(b"\x00" * 16384)
                    time.sleep(0.1)
                outcomes.append(s.recv(4096))
            except OSError:
                outcomes.append(b"closed")

    slow = [threading.Thread(target=trickle) for _ in range(8)]
    for t in slow:
        t.start()
    try:
        time.sleep(1.0)
        big, _ = trace_request(n=20, attrs={"blob": "x" * MiB})  # a legitimate 20 MiB export
        assert _post(rx, context, big.SerializeToString(), timeout=30) == 200
        assert _post(rx, context, trace_request(2)[0].SerializeToString()) == 200
    finally:
        for t in slow:
            t.join(20)
        stop.set()
    assert len(outcomes) == 8
    assert all(o.startswith(b"HTTP/1.1 408") or o in (b"", b"closed") for o in outcomes), outcomes


def test_over_limit_body_gets_a_413_that_clients_can_read(tls_receiver) -> None:
    rx, context = tls_receiver
    url = f"https://127.0.0.1:{rx.http_port}/v1/traces"
    body = b"\x00" * (70 * MiB)
    request = urllib.request.Request(url, data=body, headers=PB, method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, context=context, timeout=60)
    assert err.value.code == 413 and b"limit" in err.value.read()
    cert_path = rx.args[rx.args.index("--tls-cert") + 1]  # requests wants the CA as a file
    response = requests.post(url, data=body, headers=PB, verify=cert_path, timeout=60)
    assert response.status_code == 413
    assert _post(rx, context, trace_request(2)[0].SerializeToString()) == 200


def test_slow_header_clients_are_cut_off_and_others_served(tls_receiver) -> None:
    rx, context = tls_receiver
    closed: list[float] = []

    def slow_headers() -> None:
        started = time.monotonic()
        with _tls_socket(rx, context) as s:
            s.sendall(b"POST /v1/traces HTTP/1.1\r\n")
            try:
                for _ in range(40):  # one header byte every 0.25 s: 10 s if never cut off
                    s.sendall(b"X")
                    time.sleep(0.25)
            except OSError:
                pass
            finally:
                closed.append(time.monotonic() - started)

    clients = [threading.Thread(target=slow_headers) for _ in range(20)]
    for t in clients:
        t.start()
    time.sleep(0.5)
    for _ in range(5):
        assert _post(rx, context, trace_request(2)[0].SerializeToString(), timeout=5) == 200
    for t in clients:
        t.join(15)
    assert len(closed) == 20 and max(closed) < 6, closed  # the 2 s header timeout, not the 10 s the client wanted
