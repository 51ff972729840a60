"""``make demo``: start a receiver, send realistic agent traces through the real OTel SDK exporter,
and show what landed in Parquet.

Why the real exporter: the demo should prove the path a user's app takes — an SDK
``TracerProvider`` with the OTLP/gRPC exporter pointed at the receiver — not a shortcut into the
sink. The traces are GenAI semconv spans shaped like a support agent's runs in two versions.
"""

from __future__ import annotations

import argparse
import logging
import random
import time
from pathlib import Path

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

from driftline.collector.app import CollectorApp
from driftline.collector.config import CollectorConfig

VERSIONS = {
    "v1.0": ("gpt-4o-mini", ["search_kb", "lookup_order"]),
    "v2.0": ("gpt-4o", ["search_kb", "lookup_order", "escalate"]),
}


def send_agent_runs(endpoint: str, runs_per_version: int, seed: int = 7) -> int:
    """Emit ``runs_per_version`` support-agent runs per version; returns the number of spans sent."""
    rng = random.Random(seed)
    sent = 0
    for version, (model, tools) in VERSIONS.items():
        provider = TracerProvider(
            resource=Resource.create(
                {"service.name": "support-agent", "service.version": version, "deployment.environment.name": "demo"}
            )
        )
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True)))
        tracer = provider.get_tracer("driftline.demo", "0.1.0")
        for run in range(runs_per_version):
            with tracer.start_as_current_span(
                "invoke_agent support",
                attributes={
                    "gen_ai.operation.name": "invoke_agent",
                    "gen_ai.agent.name": "support",
                    "gen_ai.agent.id": "agent-support",
                    "gen_ai.conversation.id": f"conv-{version}-{run}",
                },
            ) as root:
                sent += 1
                for step, tool in enumerate(rng.sample(tools, k=rng.randint(1, len(tools)))):
                    with tracer.start_as_current_span(
                        f"chat {model}",
                        attributes={
                            "gen_ai.operation.name": "chat",
                            "gen_ai.provider.name": "openai",
                            "gen_ai.request.model": model,
                            "gen_ai.response.model": f"{model}-2024-08-06",
                            "gen_ai.request.temperature": 0.2,
                            "gen_ai.request.max_tokens": 1024,
                            "gen_ai.usage.input_tokens": rng.randint(300, 900) * (2 if version == "v2.0" else 1),
                            "gen_ai.usage.output_tokens": rng.randint(40, 200),
                            "gen_ai.response.finish_reasons": ["tool_calls"],
                            "gen_ai.response.id": f"chatcmpl-{run}-{step}",
                            "server.address": "api.openai.com",
                        },
                    ):
                        sent += 1
                        time.sleep(0.001)
                    with tracer.start_as_current_span(
                        f"execute_tool {tool}",
                        attributes={
                            "gen_ai.operation.name": "execute_tool",
                            "gen_ai.tool.name": tool,
                            "gen_ai.tool.call.id": f"call_{run}_{step}",
                            "gen_ai.tool.type": "function",
                            "gen_ai.tool.call.arguments": f'{{"query": "order {run}"}}',
                        },
                    ) as span:
                        sent += 1
                        if rng.random() < 0.05:
                            span.set_status(Status(StatusCode.ERROR, "tool timed out"))
                            span.set_attribute("error.type", "TimeoutError")
                with tracer.start_as_current_span(
                    f"chat {model}",
                    attributes={
                        "gen_ai.operation.name": "chat",
                        "gen_ai.provider.name": "openai",
                        "gen_ai.request.model": model,
                        "gen_ai.usage.input_tokens": rng.randint(500, 1500),
                        "gen_ai.usage.output_tokens": rng.randint(80, 400),
                        "gen_ai.response.finish_reasons": ["stop"],
                    },
                ):
                    sent += 1
                outcome = "escalated" if "escalate" in tools and rng.random() < 0.3 else "resolved"
                root.set_attribute("driftline.outcome", outcome)
        provider.shutdown()
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="./driftline-data")
    parser.add_argument("--runs", type=int, default=50, help="agent runs per version")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    import pyarrow.dataset as ds

    app = CollectorApp(CollectorConfig(data=args.data, grpc_port=0, http_port=0, flush_interval=0.5)).start()
    try:
        sent = send_agent_runs(f"http://127.0.0.1:{app.grpc_port}", args.runs)
        app.flush(60)
    finally:
        app.stop()
    root = Path(args.data)
    table = ds.dataset(root / "spans", format="parquet", partitioning="hive").to_table()
    print(f"\nsent {sent} spans through the OTLP/gRPC exporter; {table.num_rows} rows in Parquet under {root}/spans")
    print("partitions:")
    for part in sorted({str(p.parent) for p in (root / "spans").glob("date=*/hour=*/*.parquet")}):
        print(f"  {part}  ({len(list(Path(part).glob('*.parquet')))} file(s))")
    sample = table.select(
        [
            "trace_id",
            "name",
            "operation",
            "agent_version",
            "request_model",
            "input_tokens",
            "output_tokens",
            "tool_name",
            "outcome",
        ]
    ).slice(0, 8)
    print("sample rows:")
    for row in sample.to_pylist():
        print("  " + "  ".join(f"{k}={v}" for k, v in row.items() if v is not None))
    print(
        f"\nquery it:  duckdb -c \"SELECT agent_version, count(*) FROM read_parquet('{root}/spans/*/*/*.parquet',"
        ' hive_partitioning=true) GROUP BY 1"'
    )


if __name__ == "__main__":
    main()
