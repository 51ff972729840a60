// Drift report: the document of `driftline diff --format json`, drawn. Nothing here is computed
// beyond layout: verdict, score and CI, per-dimension tests and effects, hypotheses, cost all come
// from the analysis layer.
import { useState } from "react";
import { Link } from "wouter";
import { ApiError, type Dimension, query, type Report, request, useApi } from "../api";
import { Chart } from "../components/Chart";
import { ErrorLine, Loading, Verdict } from "../components/Status";
import { effect, int, pct, usd, when } from "../format";
import { palette } from "../theme";
import { useQueryState } from "../urlState";

/** The analysis layer writes names in `backticks` (Markdown); show them as code, never as HTML. */
function Ticks({ text }: { text: string }) {
  return <>{text.split("`").map((part, i) => (i % 2 ? <code key={i}>{part}</code> : part))}</>;
}

function ScoreBar({ score, low, high, verdict }: { score: number; low: number; high: number; verdict: string }) {
  return (
    <div className="scorebar" role="img" aria-label={`composite score ${score.toFixed(2)}, 95% CI ${low.toFixed(2)} to ${high.toFixed(2)}`}>
      <div className="scorebar-track">
        <div className="scorebar-ci" style={{ left: `${low * 100}%`, width: `${Math.max((high - low) * 100, 0.5)}%` }} />
        <div className={`scorebar-dot verdict-bg-${verdict}`} style={{ left: `${score * 100}%` }} />
      </div>
      <div className="scorebar-scale muted">
        <span>0 stable</span>
        <span>1 everything moved</span>
      </div>
    </div>
  );
}

function Histogram({ d }: { d: Dimension }) {
  const h = d.baseline_distribution.histogram ?? d.candidate_distribution.histogram;
  if (!h) return null;
  const base = d.baseline_distribution.histogram?.baseline ?? h.baseline;
  const cand = d.candidate_distribution.histogram?.candidate ?? h.candidate;
  const mids = h.edges.slice(0, -1).map((e, i) => (e + h.edges[i + 1]) / 2);
  const digits = Math.abs(mids.at(-1) ?? 0) < 0.01 ? 5 : Math.abs(mids.at(-1) ?? 0) < 10 ? 2 : 0;
  return (
    <Chart
      label={`${d.title}: distribution, baseline against candidate`}
      deps={[d]}
      build={() => {
        const c = palette();
        return {
          type: "bar",
          data: {
            labels: mids.map((m) => m.toFixed(digits)),
            datasets: [
              { label: "baseline", data: base, backgroundColor: c.baseline + "99", borderColor: c.baseline, borderWidth: 1, barPercentage: 1, categoryPercentage: 1 },
              { label: "candidate", data: cand, backgroundColor: c.candidate + "99", borderColor: c.candidate, borderWidth: 1, barPercentage: 1, categoryPercentage: 1 },
            ],
          },
          options: {
            scales: {
              x: { stacked: false, ticks: { color: c.muted, maxTicksLimit: 8 }, grid: { color: c.grid }, title: { display: !!d.unit, text: d.unit, color: c.muted } },
              y: { ticks: { color: c.muted, callback: (v) => pct(Number(v), 0) }, grid: { color: c.grid }, title: { display: true, text: "share of runs", color: c.muted } },
            },
            plugins: { legend: { labels: { color: c.text } } },
          },
        };
      }}
    />
  );
}

function RateBars({ d }: { d: Dimension }) {
  const b = d.baseline_distribution.rates ?? {};
  const k = d.candidate_distribution.rates ?? {};
  const labels = [...new Set([...Object.keys(b), ...Object.keys(k)])]
    .sort((x, y) => Math.max(k[y] ?? 0, b[y] ?? 0) - Math.max(k[x] ?? 0, b[x] ?? 0))
    .slice(0, 12);
  if (!labels.length) return null;
  return (
    <Chart
      label={`${d.title}: share of runs per value, baseline against candidate`}
      deps={[d]}
      height={Math.max(120, labels.length * 34 + 50)}
      build={() => {
        const c = palette();
        return {
          type: "bar",
          data: {
            labels,
            datasets: [
              { label: "baseline", data: labels.map((l) => b[l] ?? 0), backgroundColor: c.baseline },
              { label: "candidate", data: labels.map((l) => k[l] ?? 0), backgroundColor: c.candidate },
            ],
          },
          options: {
            indexAxis: "y",
            scales: {
              x: { min: 0, max: 1, ticks: { color: c.muted, callback: (v) => pct(Number(v), 0) }, grid: { color: c.grid } },
              y: { ticks: { color: c.text }, grid: { display: false } },
            },
            plugins: { legend: { labels: { color: c.text } }, tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${pct(Number(ctx.raw))}` } } },
          },
        };
      }}
    />
  );
}

function SequenceChanges({ d }: { d: Dimension }) {
  const b = d.baseline_distribution.rates ?? {};
  const k = d.candidate_distribution.rates ?? {};
  const rows = [...new Set([...Object.keys(b), ...Object.keys(k)])]
    .map((path) => ({ path, b: b[path] ?? 0, k: k[path] ?? 0 }))
    .sort((x, y) => Math.abs(y.k - y.b) - Math.abs(x.k - x.b))
    .slice(0, 10);
  return (
    <section aria-label="Tool-sequence changes">
      <h2>Tool-sequence changes</h2>
      <p className="muted">The exact tool paths whose share of runs moved most ({d.status}, p adj {d.p_adjusted.toPrecision(2)}).</p>
      <table className="compact">
        <thead>
          <tr>
            <th>Tool path</th>
            <th className="num">Baseline</th>
            <th className="num">Candidate</th>
            <th className="num">Change</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.path}>
              <td className="tools">{r.path || "(no tools)"}</td>
              <td className="num">{pct(r.b)}</td>
              <td className="num">{pct(r.k)}</td>
              <td className={`num ${r.k - r.b < 0 ? "down" : r.k - r.b > 0 ? "up" : ""}`}>{effect("rate_difference", r.k - r.b)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function DimensionRow({ d }: { d: Dimension }) {
  const moved = d.status === "moved";
  return (
    <details className={`dimension status-${d.status.replace(/\s+/g, "-")}`} open={moved} data-dimension={d.name}>
      <summary>
        <span className="dim-title">{d.title}</span>
        <span className="dim-status">
          {d.status}
          {d.severity && <span className={`verdict verdict-${d.severity}`}>{d.severity}</span>}
        </span>
        <span className="dim-effect">
          {effect(d.effect_name, d.effect)}
          {d.ci_low !== null && d.ci_high !== null && (
            <span className="muted">
              {" "}
              [{effect(d.effect_name, d.ci_low)}, {effect(d.effect_name, d.ci_high)}]
            </span>
          )}
          {d.focus && <span className="muted"> · {d.focus}</span>}
        </span>
        <span className="dim-p muted">
          {d.test} p adj {d.p_adjusted < 0.001 ? d.p_adjusted.toExponential(1) : d.p_adjusted.toFixed(3)}
        </span>
      </summary>
      <div className="dim-body">
        {d.kind === "numeric" ? <Histogram d={d} /> : <RateBars d={d} />}
        <p className="muted">
          {int(d.n_baseline)} baseline runs, {int(d.n_candidate)} candidate runs · weight {d.weight} · distance {d.distance.toFixed(3)}
        </p>
      </div>
    </details>
  );
}

function SetBaseline({ version }: { version: string }) {
  const [state, setState] = useState<{ ok?: string; error?: string; busy?: boolean }>({});
  return (
    <span className="set-baseline">
      <button
        type="button"
        disabled={state.busy}
        onClick={async () => {
          setState({ busy: true });
          try {
            const rec = await request<{ version: string; runs: number }>("/baselines", undefined, { method: "POST", body: JSON.stringify({ version }) });
            setState({ ok: `${rec.version} is now the baseline (${int(rec.runs)} runs)` });
          } catch (e) {
            const err = e as Error;
            setState({ error: err instanceof ApiError && err.status === 403 ? "Setting a baseline needs the API started with --auth-token (writes are off otherwise)." : err.message });
          }
        }}
      >
        Set {version} as baseline
      </button>{" "}
      {state.ok && <span role="status">{state.ok}</span>}
      {state.error && (
        <span role="alert" className="error">
          {state.error}
        </span>
      )}
    </span>
  );
}

export function DriftPage() {
  const [params] = useQueryState();
  const baseline = params.get("baseline");
  const candidate = params.get("candidate");
  const scope = { agent: params.get("agent") ?? undefined, env: params.get("env") ?? undefined };
  const report = useApi<Report>(baseline && candidate ? "/diff" : null, { baseline, candidate, ...scope });
  if (!baseline || !candidate)
    return (
      <section>
        <h1>Drift report</h1>
        <p>
          Pick a baseline and a candidate on the <Link href="/versions">Versions</Link> page.
        </p>
      </section>
    );
  if (report.error) return <ErrorLine error={report.error} />;
  if (!report.data) return <Loading what={`the ${baseline} → ${candidate} report (every dimension is tested; large sides take a few seconds)`} />;
  const r = report.data;
  const v = r.verdict;
  const dims = r.dimensions;
  const order = { moved: 0, "detectable but negligible": 1, unchanged: 2, "no data": 3 } as Record<string, number>;
  const sorted = [...dims].sort((a, b) => (order[a.status] ?? 9) - (order[b.status] ?? 9) || b.score - a.score);
  const sequences = dims.find((d) => d.name === "tool_sequence");
  const single = r.candidate.versions.length === 1 ? r.candidate.versions[0] : null;
  return (
    <section className="drift">
      <p className="crumbs">
        <Link href={`/versions?baseline=${encodeURIComponent(baseline)}&candidate=${encodeURIComponent(candidate)}`}>Versions</Link> / drift report
      </p>
      <div className="page-head">
        <h1>
          {r.baseline.label} → {r.candidate.label}
        </h1>
        <Verdict verdict={v.verdict} />
        <a className="muted" href={`/api/v1/diff${query({ baseline, candidate, ...scope })}`} target="_blank" rel="noreferrer">
          JSON
        </a>
      </div>
      <div className="summary-grid">
        <div className="card">
          <h2>Composite score</h2>
          <p className="big">
            {v.score.toFixed(2)} <span className="muted">95% CI {v.score_low.toFixed(2)}–{v.score_high.toFixed(2)}</span>
          </p>
          <ScoreBar score={v.score} low={v.score_low} high={v.score_high} verdict={v.verdict} />
          <p className="muted">
            {int(r.baseline.runs)} baseline runs ({when(r.baseline.start)} – {when(r.baseline.end)}) · {int(r.candidate.runs)} candidate runs
          </p>
        </div>
        <div className="card">
          <h2>Why</h2>
          {v.reasons.length ? (
            <ul>
              {v.reasons.map((x) => (
                <li key={x}>{x}</li>
              ))}
            </ul>
          ) : (
            <p className="muted">No dimension moved beyond its floor.</p>
          )}
          {Object.keys(v.runs_needed).length > 0 && (
            <p>
              Runs still needed: {Object.entries(v.runs_needed).map(([side, n]) => `${side} ${int(n)}`).join(", ")}
            </p>
          )}
          <ul className="muted">
            {v.next_steps.map((x) => (
              <li key={x}>{x}</li>
            ))}
          </ul>
          {single && <SetBaseline version={single} />}
        </div>
        {r.cost && (
          <div className="card">
            <h2>Cost</h2>
            <p className="big">
              {r.cost.delta_per_10k_runs === null ? "—" : `${r.cost.delta_per_10k_runs >= 0 ? "+" : "−"}${usd(Math.abs(r.cost.delta_per_10k_runs), 2)}`} <span className="muted">per 10k runs</span>
            </p>
            <p className="muted">
              {usd(r.cost.baseline_mean)} → {usd(r.cost.candidate_mean)} per run ({r.cost.currency}, prices {r.cost.pricing_version})
              {r.cost.unpriced_models.length > 0 && ` · unpriced: ${r.cost.unpriced_models.join(", ")}`}
            </p>
          </div>
        )}
      </div>
      <section aria-label="Hypotheses">
        <h2>Hypotheses</h2>
        {r.hypotheses.length ? (
          <ol className="hypotheses">
            {r.hypotheses.map((h) => (
              <li key={h.rule + h.text} data-rule={h.rule}>
                <Ticks text={h.text} /> <span className="muted">(evidence {h.evidence.toFixed(2)})</span>
              </li>
            ))}
          </ol>
        ) : (
          <p className="muted">No rule matched what moved.</p>
        )}
      </section>
      {r.configuration_changes.length > 0 && (
        <section aria-label="Configuration changes">
          <h2>Configuration changes</h2>
          <ul>
            {r.configuration_changes.map((c) => (
              <li key={c.key + c.note}>{c.note}</li>
            ))}
          </ul>
        </section>
      )}
      <section aria-label="Dimensions">
        <h2>Dimensions</h2>
        <p className="muted">Moved dimensions are open; click any other to see its chart. p values are Holm-adjusted across dimensions.</p>
        {sorted.map((d) => (
          <DimensionRow key={d.name + (d.segment ?? "")} d={d} />
        ))}
      </section>
      {sequences && Object.keys(sequences.candidate_distribution.rates ?? {}).length > 0 && <SequenceChanges d={sequences} />}
    </section>
  );
}
