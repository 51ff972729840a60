"""`driftline serve --ui-port` — receiver and console in one process — seen from a real browser: the
empty state names this receiver's OTLP endpoint, runs sent by the OTel SDK exporter appear on the
open Runs page without a reload, and the Ingest page shows the receiver's metrics, rejected items included."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

SEND_RUNS = """
import sys
from driftline import instrumentation
from driftline.analysis.demo.agent import run_support_agent
instrumentation.setup("support-agent", environment="live", endpoint=sys.argv[1], protocol="http/protobuf")
run_support_agent("v1.0", int(sys.argv[2]), seed=int(sys.argv[3]))
instrumentation.shutdown()
"""


def _start(data: Path, *extra: str, config: Path | None = None) -> tuple[subprocess.Popen[str], str, list[str]]:
    """``driftline [--config F] serve … --ui-port 0 EXTRA…`` in a new process; (process, console URL, its log)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "driftline.analysis.cli",
            *(["--config", str(config)] if config else []),
            "serve",
            "--data",
            str(data),
            "--grpc-port",
            "0",
            "--http-port",
            "0",
            "--ui-port",
            "0",
            "--flush-interval",
            "0.3",
            *extra,
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    found: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            m = re.search(r"Driftline console on (http://\S+)/ ", line)
            if m:
                found.append(m.group(1))

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 60
    while not found:
        assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)[-3000:]
        time.sleep(0.05)
    return proc, found[0], lines


def _send(otlp_http: str, runs: int, seed: int) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SEND_RUNS, otlp_http, str(runs), str(seed)], capture_output=True, text=True, timeout=90
    )
    assert out.returncode == 0, out.stderr[-2000:]


def test_serve_with_ui_port_follows_new_runs_and_receiver_health(browser: Any, tmp_path: Path) -> None:
    proc, url, log = _start(tmp_path / "data")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        receiver = httpx.get(url + "/api/v1/health", timeout=10).json()["receiver"]
        page.goto(url + "/runs")
        empty = page.get_by_label("getting started")
        expect(empty).to_contain_text("No runs yet")
        expect(empty).to_contain_text(f"OTEL_EXPORTER_OTLP_ENDPOINT={receiver['otlp_http']}")
        screenshot(page, "empty-state")

        # a request whose only span is malformed (a 3-byte trace id): refused with 400, counted by reason
        bad = ExportTraceServiceRequest(
            resource_spans=[
                ResourceSpans(scope_spans=[ScopeSpans(spans=[Span(trace_id=b"abc", span_id=b"12345678", name="bad")])])
            ]
        )
        r = httpx.post(
            receiver["otlp_http"] + "/v1/traces",
            content=bad.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
            timeout=10,
        )
        assert r.status_code == 400 and "trace" in r.text.lower()

        _send(receiver["otlp_http"], 6, seed=1)
        rows = page.locator("table.runs tbody tr")
        expect(rows).to_have_count(6, timeout=45_000)  # no reload: health and runs are polled
        _send(receiver["otlp_http"], 4, seed=2)
        expect(rows).to_have_count(10, timeout=30_000)
        expect(page.locator("table.runs tbody tr.is-new")).to_have_count(4, timeout=10_000)

        page.get_by_role("link", name="Ingest").click()
        expect(page.get_by_role("status").filter(has_text="receiver")).to_have_text("receiver up")
        rejected = page.get_by_role("table", name="Rejected items")
        expect(rejected).to_contain_text("invalid_item")
        metrics = httpx.get(url + "/api/v1/ingest", timeout=10).json()["metrics"]
        assert metrics["rejected"][0]["count"] >= 1 and metrics["accepted"]["traces"] > 0
        assert httpx.get(url + "/api/v1/stats", timeout=10).json()["rejected"] >= 1
        expect(page.locator(".tiles")).to_contain_text("rows written to Parquet")
        screenshot(page, "ingest")
    finally:
        context.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 0, "".join(log)[-3000:]
    assert not errors, errors
