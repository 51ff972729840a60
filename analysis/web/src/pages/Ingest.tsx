// Ingest: the receiver's health from its own /metrics (accepted, written, rejected by reason, WAL
// backlog), refreshed every few seconds, and spans/runs per hour from the data root.
import { useEffect, useRef, useState } from "react";
import { type Health, type Ingest, type Stats, useApi } from "../api";
import { Chart } from "../components/Chart";
import { EmptyState } from "../components/EmptyState";
import { ErrorLine, Loading } from "../components/Status";
import { int, ms, when } from "../format";
import { palette } from "../theme";

const POLL_MS = 5000;
const sum = (o: Record<string, number> | undefined) => Object.values(o ?? {}).reduce((a, b) => a + b, 0);

export function IngestPage({ health }: { health: Health | null }) {
  const ingest = useApi<Ingest>("/ingest", {}, POLL_MS);
  const stats = useApi<Stats>("/stats", { hours: 48 }, 30_000);
  const last = useRef<{ t: number; accepted: number } | null>(null);
  const [rate, setRate] = useState<number | null>(null);
  useEffect(() => {
    const m = ingest.data?.metrics;
    if (!m) return;
    const now = performance.now();
    const accepted = sum(m.accepted);
    if (last.current && now > last.current.t) setRate(((accepted - last.current.accepted) * 1000) / (now - last.current.t));
    last.current = { t: now, accepted };
  }, [ingest.data]);
  const i = ingest.data;
  const m = i?.metrics;
  return (
    <section>
      <div className="page-head">
        <h1>Ingest</h1>
        {i && (
          <span className={`badge ${i.reachable ? "badge-ok" : i.configured ? "badge-error" : ""}`} role="status">
            {i.reachable ? "receiver up" : i.configured ? "receiver unreachable" : "no receiver attached"}
          </span>
        )}
        {i?.source && <span className="muted">{i.source}</span>}
      </div>
      {ingest.error && <ErrorLine error={ingest.error} />}
      {!i && !ingest.error && <Loading what="receiver metrics" />}
      {i && !i.configured && (
        <div className="card">
          <p>
            This console is not attached to a receiver, so it shows only what is already in the data root. Run both in one process with{" "}
            <code>driftline serve --data {health?.data ?? "DATA"} --ui-port 8000</code>, or tell <code>driftline ui</code> where a receiver listens:{" "}
            <code>driftline ui --receiver http://127.0.0.1:4318</code> (it reads <code>/metrics</code> and <code>/healthz</code>).
          </p>
        </div>
      )}
      {i?.error && <p className="error">{i.error}</p>}
      {m && (
        <div className="tiles">
          <div className="tile">
            <span className="muted">accepted items/s (last {POLL_MS / 1000} s)</span>
            <b>{rate === null ? "measuring…" : rate.toFixed(1)}</b>
          </div>
          <div className="tile">
            <span className="muted">accepted (spans + logs)</span>
            <b>{int(sum(m.accepted))}</b>
          </div>
          <div className="tile">
            <span className="muted">rows written to Parquet</span>
            <b>{int(sum(m.written))}</b>
          </div>
          <div className={`tile ${m.rejected.length ? "warn" : ""}`}>
            <span className="muted">rejected</span>
            <b>{int(m.rejected.reduce((a, r) => a + r.count, 0))}</b>
          </div>
          <div className="tile">
            <span className="muted">WAL backlog</span>
            <b>
              {int(m.queue_depth)} segments · {int((m.wal_bytes ?? 0) / 1024)} KiB
            </b>
          </div>
          <div className="tile">
            <span className="muted">export latency p50 / p99</span>
            <b>
              {ms(m.export_p50_s === null ? null : m.export_p50_s * 1000)} / {ms(m.export_p99_s === null ? null : m.export_p99_s * 1000)}
            </b>
          </div>
          <div className={`tile ${m.segment_failures ? "warn" : ""}`}>
            <span className="muted">segments failed to reach Parquet</span>
            <b>{int(m.segment_failures)}</b>
          </div>
        </div>
      )}
      {m && m.rejected.length > 0 && (
        <table aria-label="Rejected items">
          <thead>
            <tr>
              <th>Signal</th>
              <th>Reason</th>
              <th className="num">Items</th>
            </tr>
          </thead>
          <tbody>
            {m.rejected.map((r) => (
              <tr key={r.signal + r.reason}>
                <td>{r.signal}</td>
                <td>{r.reason}</td>
                <td className="num">{int(r.count)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {m && m.requests.length > 0 && (
        <table aria-label="Export requests">
          <thead>
            <tr>
              <th>Protocol</th>
              <th>Signal</th>
              <th>Outcome</th>
              <th className="num">Requests</th>
            </tr>
          </thead>
          <tbody>
            {m.requests.map((r) => (
              <tr key={r.protocol + r.signal + r.outcome}>
                <td>{r.protocol}</td>
                <td>{r.signal}</td>
                <td>{r.outcome}</td>
                <td className="num">{int(r.count)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Spans and runs per hour</h2>
      {health && health.spans === 0 && <EmptyState health={health} what="spans" />}
      {stats.error && <ErrorLine error={stats.error} />}
      {stats.data && stats.data.spans_per_hour.length > 0 && (
        <div className="card">
          <Chart
            label="spans and runs per hour, last 48 hours"
            deps={[stats.data]}
            build={() => {
              const c = palette();
              const hours = stats.data!.spans_per_hour.map((h) => h.hour);
              const runs = new Map(stats.data!.runs_per_hour.map((r) => [r.hour, r.runs]));
              return {
                type: "bar",
                data: {
                  labels: hours.map((h) => when(h).slice(5, 16)),
                  datasets: [
                    { label: "spans", data: stats.data!.spans_per_hour.map((h) => h.spans), backgroundColor: c.baseline, yAxisID: "y" },
                    { label: "runs", data: hours.map((h) => runs.get(h) ?? 0), backgroundColor: c.candidate, yAxisID: "y1" },
                  ],
                },
                options: {
                  scales: {
                    x: { ticks: { color: c.muted }, grid: { display: false } },
                    y: { position: "left", ticks: { color: c.muted }, grid: { color: c.grid }, title: { display: true, text: "spans", color: c.muted } },
                    y1: { position: "right", ticks: { color: c.muted }, grid: { display: false }, title: { display: true, text: "runs", color: c.muted } },
                  },
                  plugins: { legend: { labels: { color: c.text } } },
                },
              };
            }}
          />
        </div>
      )}
    </section>
  );
}
