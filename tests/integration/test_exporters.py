"""The official OTel SDK exporters (gRPC and HTTP) against a receiver on loopback: row-level checks."""

from __future__ import annotations

from opentelemetry._logs import LogRecord as ApiLogRecord
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from tests.conftest import read_dataset

RESOURCE = Resource.create(
    {
        "service.name": "support-agent",
        "service.version": "v2.1",
        "deployment.environment.name": "prod",
        "tenant": "acme",
    }
)


def _agent_trace(exporter) -> dict[str, str]:
    """One agent run (agent -> chat -> tool -> chat); returns span name -> hex span id."""
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("my.instrumentation", "1.2.3")
    ids = {}
    with tracer.start_as_current_span(
        "invoke_agent support",
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "support",
            "gen_ai.agent.id": "a-1",
            "driftline.outcome": "escalated",
        },
    ) as agent:
        ids["agent"] = agent
        with tracer.start_as_current_span(
            "chat gpt-4o",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": 120,
                "gen_ai.usage.output_tokens": 30,
                "gen_ai.usage.cache_read.input_tokens": 64,
                "gen_ai.response.finish_reasons": ["tool_calls"],
                "gen_ai.request.temperature": 0.3,
                "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "my order?"}]}]',
                "route": "/orders",
            },
        ) as chat:
            ids["chat"] = chat
        with tracer.start_as_current_span(
            "execute_tool lookup_order",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "lookup_order",
                "gen_ai.tool.call.id": "call_1",
                "gen_ai.tool.call.arguments": '{"id": 42}',
            },
        ) as tool:
            tool.set_status(Status(StatusCode.ERROR, "boom"))
            tool.record_exception(TimeoutError("slow"))
            ids["tool"] = tool
    provider.shutdown()
    return {k: format(v.get_span_context().span_id, "016x") for k, v in ids.items()} | {
        "trace": format(ids["agent"].get_span_context().trace_id, "032x")
    }


def _check_rows(root, ids) -> None:
    table = read_dataset(root)
    rows = {r["span_id"]: r for r in table.to_pylist() if r["trace_id"] == ids["trace"]}
    assert set(rows) == {ids["agent"], ids["chat"], ids["tool"]}
    agent, chat, tool = rows[ids["agent"]], rows[ids["chat"]], rows[ids["tool"]]
    assert agent["parent_span_id"] is None
    assert chat["parent_span_id"] == ids["agent"] and tool["parent_span_id"] == ids["agent"]
    assert agent["operation"] == "invoke_agent" and agent["agent_name"] == "support" and agent["outcome"] == "escalated"
    assert (
        agent["agent_version"] == "v2.1" and agent["environment"] == "prod" and agent["service_name"] == "support-agent"
    )
    assert chat["operation"] == "chat" and chat["provider"] == "openai"
    assert (chat["request_model"], chat["response_model"]) == ("gpt-4o", "gpt-4o-2024-08-06")
    assert (chat["input_tokens"], chat["output_tokens"], chat["cache_read_tokens"]) == (120, 30, 64)
    assert chat["finish_reasons"] == ["tool_calls"] and chat["temperature"] == 0.3
    assert chat["input_hash"] and len(chat["input_hash"]) == 64 and chat["input_chars"] > 0
    assert chat["input_content"] is None  # content is not stored by default
    assert dict(chat["attributes"]) == {"route": "/orders"}
    assert dict(chat["resource_attributes"])["tenant"] == "acme"
    assert chat["scope_name"] == "my.instrumentation" and chat["scope_version"] == "1.2.3"
    assert chat["convention"] == "genai" and chat["kind"] == "internal"
    assert tool["tool_name"] == "lookup_order" and tool["tool_call_id"] == "call_1" and tool["tool_args_hash"]
    assert tool["status_code"] == "ERROR" and tool["error_type"] == "TimeoutError"
    assert chat["duration_ms"] >= 0 and chat["start_time"] <= chat["end_time"]


def test_grpc_exporter_rows_land_in_parquet(receiver) -> None:
    ids = _agent_trace(GrpcSpanExporter(endpoint=f"http://127.0.0.1:{receiver.grpc_port}", insecure=True))
    assert receiver.flush(10)
    _check_rows(receiver.config.data, ids)


def test_http_exporter_rows_land_in_parquet(receiver) -> None:
    ids = _agent_trace(HttpSpanExporter(endpoint=f"http://127.0.0.1:{receiver.http_port}/v1/traces"))
    assert receiver.flush(10)
    _check_rows(receiver.config.data, ids)


def test_logs_land_in_logs_dataset(receiver) -> None:
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(GrpcLogExporter(endpoint=f"http://127.0.0.1:{receiver.grpc_port}", insecure=True))
    )
    logger = provider.get_logger("driftline.labels")
    logger.emit(
        ApiLogRecord(
            body="late label",
            attributes={"driftline.outcome": "resolved", "event.name": "label"},
            trace_id=0x1234,
            span_id=0x99,
        )
    )
    provider.shutdown()
    assert receiver.flush(10)
    rows = read_dataset(receiver.config.data, "logs").to_pylist()
    assert len(rows) == 1
    row = rows[0]
    assert row["trace_id"] == format(0x1234, "032x") and row["span_id"] == format(0x99, "016x")
    assert row["event_name"] == "label" and dict(row["attributes"]) == {"driftline.outcome": "resolved"}
    assert row["body_hash"] and row["body"] is None and row["service_name"] == "support-agent"


def test_store_content_scrubs_pii(receiver_factory) -> None:
    app = receiver_factory(store_content=True)
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(
        SimpleSpanProcessor(GrpcSpanExporter(endpoint=f"http://127.0.0.1:{app.grpc_port}", insecure=True))
    )
    with provider.get_tracer("t").start_as_current_span(
        "chat",
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.input.messages": "mail me at jane@example.com",
            "gen_ai.output.messages": "card 4111 1111 1111 1111 ok",
        },
    ):
        pass
    provider.shutdown()
    assert app.flush(10)
    row = read_dataset(app.config.data).to_pylist()[0]
    assert row["input_content"] == "mail me at [EMAIL]" and row["output_content"] == "card [CARD] ok"
