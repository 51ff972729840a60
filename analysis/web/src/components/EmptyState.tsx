// What a fresh install shows instead of an empty table: how to send spans here.
import type { Health } from "../api";

export function EmptyState({ health, what = "runs" }: { health: Health | null; what?: string }) {
  const http = health?.receiver?.otlp_http ?? "http://localhost:4318";
  const grpc = health?.receiver?.otlp_grpc ?? "http://localhost:4317";
  return (
    <section className="empty" aria-label="getting started">
      <h2>No {what} yet</h2>
      <p>
        Driftline shows what your agents send it. Start a receiver and point any OpenTelemetry OTLP exporter at it; runs
        appear here within seconds of the receiver's flush.
      </p>
      <ol>
        <li>
          Start the receiver and this console in one process:
          <pre>driftline serve --data {health?.data ?? "./driftline-data"} --ui-port 8000</pre>
        </li>
        <li>
          Point your application's exporter at it (standard OpenTelemetry variables):
          <pre>
            {`export OTEL_EXPORTER_OTLP_ENDPOINT=${http}
export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf   # or grpc with ${grpc}
export OTEL_RESOURCE_ATTRIBUTES=service.version=v1.0,deployment.environment=prod`}
          </pre>
        </li>
        <li>
          Instrument the client library you use (or keep the OpenTelemetry GenAI, OpenInference or OpenLLMetry
          instrumentation you already run):
          <pre>{`from driftline.instrumentation.openai import OpenAIInstrumentor
OpenAIInstrumentor().instrument()`}</pre>
        </li>
        <li>
          No agent at hand? <code>driftline demo --data ./demo-data</code> records a simulated agent in two versions,
          then <code>driftline ui --data ./demo-data</code>.
        </li>
      </ol>
    </section>
  );
}
