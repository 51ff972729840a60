"""An app that seeds Python's global ``random`` makes the OTel SDK repeat span ids across runs. The
second run's spans are not retries: every reader's deduplication would hide them without a word.
They are counted at the receiver and shown in /metrics, ``driftline doctor``, ``driftline
conventions`` and the ``span_id_conflicts`` view, with their ids."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
from click.testing import CliRunner
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from driftline.analysis.cli import cli
from driftline.analysis.db import connect


def _app_run(endpoint: str, tool: str) -> list[tuple[str, str]]:
    """One run of a user's agent script, which starts with ``random.seed(42)`` for reproducibility."""
    random.seed(42)
    provider = TracerProvider(resource=Resource.create({"service.name": "seeded-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
    tracer = provider.get_tracer("agent")
    ids = []
    with (
        tracer.start_as_current_span("invoke_agent support", attributes={"gen_ai.operation.name": "invoke_agent"}),
        tracer.start_as_current_span(f"execute_tool {tool}", attributes={"gen_ai.tool.name": tool}) as span,
    ):
        ctx = span.get_span_context()
        ids.append((f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"))
    provider.shutdown()
    return ids


def test_reused_span_ids_are_counted_and_shown(receiver_factory) -> None:
    app = receiver_factory(flush_interval=30)  # both runs land in one segment
    endpoint = f"http://127.0.0.1:{app.http_port}"
    first = _app_run(endpoint, "lookup_order")
    second = _app_run(endpoint, "refund")  # the next run of the script: same ids, other spans
    assert first == second
    assert app.flush(20)
    metrics = httpx.get(f"{endpoint}/metrics").text
    assert "driftline_conflicting_span_ids_total 2.0" in metrics  # the agent span and the tool span

    data = app.config.data
    con = connect(data)
    rows = con.execute("select trace_id, span_id, different_spans from span_id_conflicts order by 1, 2").fetchall()
    assert len(rows) == 2 and (first[0][0], first[0][1], 2) in rows
    assert con.execute("select count(*) from spans").fetchone()[0] == 2  # what deduplication hides

    out = CliRunner().invoke(cli, ["doctor", "--data", data])
    assert "2 span id(s) used by different spans" in out.output and first[0][1] in out.output
    assert "do not seed Python's global random" in out.output
    out = CliRunner().invoke(cli, ["conventions", "--data", data])
    assert out.exit_code == 0 and "2 span id(s) are used by different spans" in out.output
    assert first[0][1] in out.output


def test_retries_are_not_conflicts(receiver_factory, tmp_path: Path) -> None:
    app = receiver_factory(flush_interval=30)
    endpoint = f"http://127.0.0.1:{app.http_port}"
    from tests.integration.otlp_payloads import trace_request

    body = trace_request(3)[0].SerializeToString()
    for _ in range(2):  # a client retry sends the same request again
        assert httpx.post(f"{endpoint}/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"})
    assert app.flush(20)
    assert "driftline_conflicting_span_ids_total 0.0" in httpx.get(f"{endpoint}/metrics").text
    assert connect(app.config.data).execute("select count(*) from span_id_conflicts").fetchone()[0] == 0
    out = CliRunner().invoke(cli, ["doctor", "--data", app.config.data])
    assert "no span id is used by two different spans" in out.output
