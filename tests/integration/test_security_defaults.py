"""Security defaults that match the receiver's: the console binds loopback unless told otherwise (even
when the receiver listens on every interface), says so when it is exposed without a token; what
``driftline`` writes in the data root is private (0600 files, 0700 directories) like the WAL; gRPC
shares the HTTP listener's in-flight byte budget."""

from __future__ import annotations

import os
import re
import socket
import stat
import time
from pathlib import Path

import grpc
import httpx
from click.testing import CliRunner
from google.rpc import error_details_pb2

from driftline.analysis.cli import cli
from driftline.analysis.commands.console import _warn_if_exposed
from tests.integration.otlp_payloads import TRACE_METHOD, trace_request
from tests.receiver_process import ReceiverProcess


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for name in ("tcp", "tcp6"):
        path = Path(f"/proc/net/{name}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, _, state = line.split()[1:4]
            address, hex_port = local.split(":")
            if int(hex_port, 16) == port and state == "0A":  # LISTEN
                if name == "tcp":
                    found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
                else:
                    found.add(address)
    return found


def test_serve_ui_port_binds_loopback_when_the_receiver_listens_everywhere(tmp_path: Path) -> None:
    rx = ReceiverProcess(tmp_path / "data", "--host", "0.0.0.0", "--ui-port", "0", instance_id="sec").start()
    try:
        deadline = time.monotonic() + 30
        while not (m := re.search(r"Driftline console on http://([\d.]+):(\d+)/", "".join(rx.lines))):
            assert time.monotonic() < deadline, "".join(rx.lines)
            time.sleep(0.1)
        host, port = m.group(1), int(m.group(2))
        assert host == "127.0.0.1"
        assert _listening_addresses(port) == {"127.0.0.1"}
        assert _listening_addresses(rx.http_port) == {"0.0.0.0"}  # OTLP is open, the API is not
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/versions", timeout=10).status_code == 200
        assert "without a token" not in "".join(rx.lines)
    finally:
        rx.terminate()


def test_exposed_console_without_a_token_is_announced(capsys) -> None:
    _warn_if_exposed("0.0.0.0", None)
    assert "warning: the console and API listen on 0.0.0.0 without a token" in capsys.readouterr().err
    for host, token in (("127.0.0.1", None), ("::1", None), ("localhost", None), ("0.0.0.0", "secret")):
        _warn_if_exposed(host, token)
        assert capsys.readouterr().err == ""


def test_data_root_and_caches_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rx = ReceiverProcess(data, "--flush-interval", "0.2", "--workers", "1", instance_id="modes").start()
    try:
        body = trace_request(5)[0].SerializeToString()
        headers = {"Content-Type": "application/x-protobuf"}
        url = f"http://127.0.0.1:{rx.http_port}/v1/traces"
        assert httpx.post(url, content=body, headers=headers).status_code == 200
    finally:
        assert rx.terminate() == 0
    out = CliRunner().invoke(cli, ["runs", "--data", str(data)])  # derives and caches the runs
    assert out.exit_code == 0, out.output
    assert list(data.rglob("_cache/**/*.parquet")), "the runs cache was not written"
    loose = []
    for path in [data, *data.rglob("*")]:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            loose.append(f"{path.relative_to(tmp_path)} {mode:o}")
    assert not loose, loose


def test_grpc_counts_against_the_in_flight_byte_budget(receiver_factory) -> None:
    app = receiver_factory(max_inflight_bytes=20_000, max_request_bytes=64 * 1024)
    slow = socket.create_connection(("127.0.0.1", app.http_port), timeout=5)
    slow.sendall(
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
        b"Content-Length: 60000\r\n\r\n" + b"\x00" * 15_000
    )  # an upload in progress holds 15 kB of the 20 kB budget
    time.sleep(0.3)
    body = trace_request(n=60)[0].SerializeToString()
    assert len(body) > 5_000
    with grpc.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
        try:
            channel.unary_unary(TRACE_METHOD)(body, timeout=10)
            raise AssertionError("the gRPC request should have been refused")
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            info = error_details_pb2.RetryInfo.FromString(dict(exc.trailing_metadata())["google.rpc.retryinfo-bin"])
            assert info.retry_delay.seconds >= 1
        slow.close()
        time.sleep(0.3)
        channel.unary_unary(TRACE_METHOD)(body, timeout=10)  # budget given back: accepted
