// Models: per classical model and version, the cards teams otherwise build by hand in Metabase —
// volume, latency, inferences per minute, top segments, prediction against a feature, label coverage
// and delay. Model, version, time range, feature and colour key live in the URL.
import { useState } from "react";
import { Link } from "wouter";
import { query, useApi } from "../api";
import { Chart } from "../components/Chart";
import { ErrorLine, Loading } from "../components/Status";
import { int, ms, pct, when } from "../format";
import { palette, SERIES } from "../theme";
import { useQueryState } from "../urlState";

interface ModelRow {
  model: string;
  version: string;
  inferences: number;
  first_seen: string;
  last_seen: string;
  label_coverage: number | null;
}

interface Cards {
  model: string;
  version: string;
  range: string;
  since: string;
  volume: { inferences: number; latency_p50_ms: number | null; latency_p95_ms: number | null };
  per_minute: { minute: string; inferences: number }[];
  labels: { inferences: number; labeled: number; label_coverage: number | null; label_delay_median_s: number | null; label_delay_p90_s: number | null };
  top_segments: { segment: string; value: string; inferences: number }[];
  scatter: { feature: string | null; colour: string | null; points: { x: number; y: number | null; colour: string | null }[] };
  features: string[];
  segments: string[];
}

const RANGES = ["15m", "1h", "2h", "6h", "24h", "7d", "30d"];

function seconds(v: number | null | undefined): string {
  if (v === null || v === undefined) return "—";
  const a = Math.abs(v);
  if (a >= 86400) return `${(v / 86400).toFixed(1)} d`;
  if (a >= 3600) return `${(v / 3600).toFixed(1)} h`;
  if (a >= 60) return `${(v / 60).toFixed(1)} min`;
  return `${v.toFixed(1)} s`;
}

export function ModelsEmpty() {
  return (
    <section className="empty" aria-label="getting started with models">
      <h2>No inferences yet</h2>
      <p>Log a prediction from your scoring service (it travels over OTLP like your spans):</p>
      <pre>{`from driftline.instrumentation.ml import log_inference, log_label
rid = log_inference("fraud", "v1", {"amount": 120.5, "country": "FR"}, prediction=False)
log_label(rid, True)   # later, when the truth is known`}</pre>
      <p>
        Or load a reference set: <code>driftline models import fraud --version train --file train.parquet</code>.
      </p>
    </section>
  );
}

export function ModelsPage() {
  const [params, set] = useQueryState();
  const list = useApi<{ models: ModelRow[] }>("/models", {}, 30_000);
  if (list.error) return <ErrorLine error={list.error} />;
  if (!list.data) return <Loading what="models" />;
  const rows = list.data.models;
  if (rows.length === 0) return <ModelsEmpty />;
  const models = [...new Set(rows.map((r) => r.model))];
  const model = params.get("model") && models.includes(params.get("model") as string) ? (params.get("model") as string) : models[0];
  const versions = rows.filter((r) => r.model === model);
  const version = versions.some((r) => r.version === params.get("version")) ? (params.get("version") as string) : versions[versions.length - 1].version;
  const range = RANGES.includes(params.get("range") ?? "") ? (params.get("range") as string) : "2h";
  return (
    <section>
      <div className="page-head">
        <h1>Models</h1>
        <span className="muted">{models.length} model(s)</span>
      </div>
      <form className="filters" aria-label="Model view" onSubmit={(e) => e.preventDefault()}>
        <label>
          Model
          <select value={model} onChange={(e) => set({ model: e.currentTarget.value, version: null, feature: null, colour: null })}>
            {models.map((m) => (
              <option key={m}>{m}</option>
            ))}
          </select>
        </label>
        <label>
          Version
          <select value={version} onChange={(e) => set({ version: e.currentTarget.value })}>
            {versions.map((v) => (
              <option key={v.version} value={v.version}>
                {v.version} ({int(v.inferences)})
              </option>
            ))}
          </select>
        </label>
        <label>
          Range
          <select value={range} onChange={(e) => set({ range: e.currentTarget.value === "2h" ? null : e.currentTarget.value })}>
            {RANGES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
      </form>
      <CompareVersions model={model} versions={versions.map((v) => v.version)} />
      <ModelCards model={model} version={version} range={range} feature={params.get("feature")} colour={params.get("colour")} set={set} />
      <table aria-label="All models">
        <thead>
          <tr>
            <th>Model</th>
            <th>Version</th>
            <th className="num">Inferences</th>
            <th>First</th>
            <th>Last</th>
            <th className="num">Labelled</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={`${r.model}|${r.version}`}>
              <td>{r.model}</td>
              <td>{r.version}</td>
              <td className="num">{int(r.inferences)}</td>
              <td>{when(r.first_seen)}</td>
              <td>{when(r.last_seen)}</td>
              <td className="num">{pct(r.label_coverage)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** Two versions of the model (or the imported reference set) → the model's drift report. */
function CompareVersions({ model, versions }: { model: string; versions: string[] }) {
  const [baseline, setBaseline] = useState(versions[0]);
  const [candidate, setCandidate] = useState(versions[versions.length - 1]);
  const [chunk, setChunk] = useState("day");
  const b = versions.includes(baseline) ? baseline : versions[0];
  const c = versions.includes(candidate) ? candidate : versions[versions.length - 1];
  if (versions.length < 2) return null;
  const href = `/diff${query({ model, baseline: b, candidate: c, chunk: chunk === "day" ? undefined : chunk })}`;
  return (
    <form className="filters" aria-label="Model drift report" onSubmit={(e) => e.preventDefault()}>
      <label>
        Baseline
        <select value={b} onChange={(e) => setBaseline(e.currentTarget.value)}>
          {versions.map((v) => (
            <option key={v}>{v}</option>
          ))}
        </select>
      </label>
      <label>
        Candidate
        <select value={c} onChange={(e) => setCandidate(e.currentTarget.value)}>
          {versions.map((v) => (
            <option key={v}>{v}</option>
          ))}
        </select>
      </label>
      <label>
        Windows
        <select value={chunk} onChange={(e) => setChunk(e.currentTarget.value)}>
          {["hour", "day", "week"].map((w) => (
            <option key={w}>{w}</option>
          ))}
        </select>
      </label>
      <Link href={href}>Drift report: {b} → {c}</Link>
    </form>
  );
}

function ModelCards({
  model,
  version,
  range,
  feature,
  colour,
  set,
}: {
  model: string;
  version: string;
  range: string;
  feature: string | null;
  colour: string | null;
  set: (changes: Record<string, string | null>) => void;
}) {
  const cards = useApi<Cards>(`/models/${encodeURIComponent(model)}/cards`, { version, range, feature, colour }, 30_000);
  if (cards.error) return <ErrorLine error={cards.error} />;
  if (!cards.data) return <Loading what="model cards" />;
  const c = cards.data;
  const colours = [...new Set(c.scatter.points.map((p) => p.colour ?? "(none)"))];
  return (
    <div className="model-cards">
      <div className="kpis" role="list" aria-label="Model summary">
        <div className="card kpi" role="listitem" data-card="volume">
          <h2>Inferences, last {c.range}</h2>
          <p className="kpi-value">{int(c.volume.inferences)}</p>
        </div>
        <div className="card kpi" role="listitem" data-card="latency">
          <h2>Latency</h2>
          <p className="kpi-value">
            p50 {ms(c.volume.latency_p50_ms)} · p95 {ms(c.volume.latency_p95_ms)}
          </p>
        </div>
        <div className="card kpi" role="listitem" data-card="labels">
          <h2>Labels</h2>
          <p className="kpi-value">{pct(c.labels.label_coverage)} labelled</p>
          <p className="muted">
            delay median {seconds(c.labels.label_delay_median_s)} · p90 {seconds(c.labels.label_delay_p90_s)}
          </p>
        </div>
      </div>
      <div className="card" data-card="per-minute">
        <h2>Inferences per minute</h2>
        {c.per_minute.length === 0 ? (
          <p className="muted">No inference of {version} in the last {c.range}.</p>
        ) : (
          <Chart
            label="inferences per minute"
            deps={[c]}
            build={() => {
              const p = palette();
              return {
                type: "line",
                data: {
                  labels: c.per_minute.map((r) => when(r.minute).slice(11, 16)),
                  datasets: [{ label: "inferences", data: c.per_minute.map((r) => r.inferences), borderColor: SERIES[0], pointRadius: 0 }],
                },
                options: {
                  scales: { x: { ticks: { color: p.muted, maxTicksLimit: 12 } }, y: { ticks: { color: p.muted }, grid: { color: p.grid } } },
                  plugins: { legend: { display: false } },
                },
              };
            }}
          />
        )}
      </div>
      <div className="card" data-card="segments">
        <h2>Top segments by volume</h2>
        {c.top_segments.length === 0 ? (
          <p className="muted">No segment tags on these inferences (pass segment= to log_inference).</p>
        ) : (
          <Chart
            label="top segments by volume"
            deps={[c]}
            build={() => {
              const p = palette();
              return {
                type: "bar",
                data: {
                  labels: c.top_segments.map((s) => `${s.segment}=${s.value}`),
                  datasets: [{ label: "inferences", data: c.top_segments.map((s) => s.inferences), backgroundColor: SERIES[1] }],
                },
                options: {
                  indexAxis: "y",
                  scales: { x: { ticks: { color: p.muted }, grid: { color: p.grid } }, y: { ticks: { color: p.text } } },
                  plugins: { legend: { display: false } },
                },
              };
            }}
          />
        )}
      </div>
      <div className="card" data-card="scatter">
        <h2>Prediction vs feature</h2>
        <form className="filters" aria-label="Scatter" onSubmit={(e) => e.preventDefault()}>
          <label>
            Feature
            <select value={c.scatter.feature ?? ""} onChange={(e) => set({ feature: e.currentTarget.value || null })}>
              {c.features.map((f) => (
                <option key={f}>{f}</option>
              ))}
            </select>
          </label>
          <label>
            Colour by
            <select value={colour ?? ""} onChange={(e) => set({ colour: e.currentTarget.value || null })}>
              <option value="">(none)</option>
              {c.segments.map((s) => (
                <option key={s}>{s}</option>
              ))}
            </select>
          </label>
        </form>
        {c.scatter.points.length === 0 ? (
          <p className="muted">No numeric feature with a numeric prediction in this range.</p>
        ) : (
          <Chart
            label={`prediction against ${c.scatter.feature}`}
            deps={[c]}
            height={280}
            build={() => {
              const p = palette();
              return {
                type: "scatter",
                data: {
                  datasets: colours.map((k, i) => ({
                    label: k,
                    data: c.scatter.points.filter((pt) => (pt.colour ?? "(none)") === k).map((pt) => ({ x: Number(pt.x), y: pt.y })),
                    backgroundColor: SERIES[i % SERIES.length],
                    pointRadius: 2,
                  })),
                },
                options: {
                  scales: {
                    x: { title: { display: true, text: c.scatter.feature ?? "", color: p.muted }, ticks: { color: p.muted }, grid: { color: p.grid } },
                    y: { title: { display: true, text: "prediction", color: p.muted }, ticks: { color: p.muted }, grid: { color: p.grid } },
                  },
                  plugins: { legend: { display: colours.length > 1, labels: { color: p.text } } },
                },
              };
            }}
          />
        )}
      </div>
    </div>
  );
}
