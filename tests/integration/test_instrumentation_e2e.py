"""Instrumented app -> OTLP -> the real receiver -> Parquet, in process and via opentelemetry-instrument."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import openai

import driftline.instrumentation as dl
from tests.conftest import read_dataset


def test_setup_agent_and_openai_spans_reach_parquet(spans, receiver, llm_server) -> None:
    provider, _ = spans
    endpoint = f"http://127.0.0.1:{receiver.grpc_port}"
    assert dl.setup(service_name="ignored-app-has-a-provider", endpoint=endpoint, instrument=("openai",)) is provider
    assert dl.setup(endpoint=endpoint) is provider  # idempotent
    try:
        client = openai.OpenAI(base_url=llm_server.base_url, api_key="test", max_retries=0)
        with dl.agent_run("support-agent", version="v2.1") as run:
            reply = client.chat.completions.create(
                model="gpt-4o",
                messages=[{"role": "user", "content": "order 42?"}],
                tools=[{"type": "function", "function": {"name": "lookup_order", "parameters": {}}}],
            )
            call = reply.choices[0].message.tool_calls[0]
            with dl.tool_call(call.function.name, arguments=call.function.arguments, call_id=call.id) as tc:
                tc.set_result({"status": "ships Monday"})
            run.set_outcome("resolved")
    finally:
        dl.shutdown()
    assert receiver.flush(10)
    rows = {r["operation"]: r for r in read_dataset(receiver.config.data).to_pylist()}
    agent, chat, tool = rows["invoke_agent"], rows["chat"], rows["execute_tool"]
    assert (agent["agent_name"], agent["agent_version"], agent["outcome"]) == ("support-agent", "v2.1", "resolved")
    assert chat["trace_id"] == agent["trace_id"] and chat["parent_span_id"] == agent["span_id"]
    assert (chat["provider"], chat["request_model"], chat["response_model"]) == (
        "openai",
        "gpt-4o",
        "gpt-4o-2024-08-06",
    )
    assert (chat["input_tokens"], chat["output_tokens"], chat["cache_read_tokens"]) == (57, 17, 32)
    assert chat["reasoning_tokens"] == 5 and chat["finish_reasons"] == ["tool_calls"]
    assert chat["input_hash"] and chat["input_chars"] and chat["input_content"] is None
    assert (tool["tool_name"], tool["tool_call_id"]) == ("lookup_order", "call_abc")
    assert tool["tool_args_hash"] and tool["output_hash"] and tool["convention"] == "genai"


def test_opentelemetry_instrument_picks_up_the_entry_point(receiver, llm_server, tmp_path) -> None:
    script = tmp_path / "app.py"
    script.write_text(
        textwrap.dedent("""
        import sys
        import openai
        client = openai.OpenAI(base_url=sys.argv[1], api_key="test", max_retries=0)
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    """)
    )
    launcher = shutil.which("opentelemetry-instrument", path=os.path.dirname(sys.executable))
    assert launcher, "opentelemetry-instrument comes with opentelemetry-instrumentation"
    env = {
        **os.environ,
        "OTEL_SERVICE_NAME": "auto-app",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.grpc_port}",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    done = subprocess.run(
        [launcher, sys.executable, str(script), llm_server.base_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert receiver.flush(10)
    rows = [r for r in read_dataset(receiver.config.data).to_pylist() if r["service_name"] == "auto-app"]
    assert len(rows) == 1
    assert (rows[0]["operation"], rows[0]["request_model"], rows[0]["scope_name"]) == (
        "chat",
        "gpt-4o",
        "driftline.instrumentation",
    )


def test_event_only_content_goes_to_log_records(spans, llm_server) -> None:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    from driftline.instrumentation import settings
    from driftline.instrumentation.openai import OpenAIInstrumentor

    provider, exporter = spans
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(
        tracer_provider=provider, logger_provider=logger_provider, settings=settings.load(capture_content="EVENT_ONLY")
    )
    try:
        openai.OpenAI(base_url=llm_server.base_url, api_key="test", max_retries=0).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hello"}]
        )
    finally:
        instrumentor.uninstrument()
    span = exporter.get_finished_spans()[0]
    assert "gen_ai.input.messages" not in span.attributes and span.attributes["driftline.input.hash"]
    (record,) = logs.get_finished_logs()
    assert record.log_record.event_name == "gen_ai.client.inference.operation.details"
    assert '"hello"' in record.log_record.attributes["gen_ai.input.messages"]
    assert record.log_record.span_id == span.context.span_id


def test_setup_without_a_provider_exports_over_http(receiver, tmp_path) -> None:
    """In a fresh process (no SDK provider yet): setup() builds one with the resource and OTLP/HTTP."""
    script = tmp_path / "app.py"
    script.write_text(
        textwrap.dedent("""
        import sys
        import driftline.instrumentation as dl
        from opentelemetry import trace
        provider = dl.setup(service_name="fresh-app", version="v9", environment="staging",
                            endpoint=sys.argv[1], protocol="http")
        assert trace.get_tracer_provider() is provider
        with dl.agent_run("helper") as run:
            run.set_outcome("resolved")
        dl.shutdown()
    """)
    )
    done = subprocess.run(
        [sys.executable, str(script), f"http://127.0.0.1:{receiver.http_port}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert receiver.flush(10)
    (row,) = read_dataset(receiver.config.data).to_pylist()
    assert (row["service_name"], row["service_version"], row["environment"]) == ("fresh-app", "v9", "staging")
    assert (row["agent_name"], row["agent_version"], row["outcome"]) == ("helper", "v9", "resolved")


def test_setup_rejects_an_unknown_protocol_or_instrumentation(spans) -> None:
    import pytest
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    with pytest.raises(ValueError, match="protocol"):
        dl.setup(protocol="carrier-pigeon")
    try:
        with pytest.raises(ValueError, match="unknown instrumentation"):
            dl.setup(span_exporter=InMemorySpanExporter(), instrument=("cobol",))
    finally:
        dl.shutdown()
