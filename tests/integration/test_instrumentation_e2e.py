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
