// Drift report: the document of `driftline diff --format json`, drawn. Nothing here is computed
// beyond layout: verdict, score and CI, per-dimension tests and effects, hypotheses, cost all come
// from the analysis layer.
import { useState } from "react";
import { Link } from "wouter";
import { ApiError, type Dimension, type Explanation, type Performance, query, type Report, request, type SemanticSummary, useApi } from "../api";
import { Chart } from "../components/Chart";
import { ErrorLine, Loading, Verdict } from "../components/Status";
import { Ticks } from "../components/Ticks";
import { effect, int, pct, usd, when } from "../format";
import { palette } from "../theme";
import { useQueryState } from "../urlState";

/** The analysis layer writes names in `backticks` (Markdown); show them as code, never as HTML. */
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

function DimensionRow({ d, unit = "runs" }: { d: Dimension; unit?: string }) {
  const moved = d.status === "moved";
  return (
    <details className={`dimension status-${d.status.replace(/\s+/g, "-")}`} open={moved} data-dimension={d.name}>
      <summary>
        <span className="dim-title">{d.title}</span>
        <span className="dim-status">
          {d.status}
          {d.severity && <span className={`verdict verdict-${d.severity}`}>{d.severity}</span>}
          {d.echo_of && (
            <span className="muted echo" title="Its per-run values move with that dimension's: one change, reported once">
              {" "}
              same runs as {d.echo_of}
            </span>
          )}
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
        {d.kind === "numeric" || d.kind === "semantic" ? <Histogram d={d} /> : <RateBars d={d} />}
        <p className="muted">
          {int(d.n_baseline)} baseline {unit}, {int(d.n_candidate)} candidate {unit} · weight {d.weight} · distance {d.distance.toFixed(3)}
        </p>
      </div>
    </details>
  );
}

const PERF_STATUS: Record<string, string> = {
  worse: "fell",
  better: "improved",
  negligible: "detectable but negligible",
  unchanged: "no change",
  provisional: "provisional (labels not all in)",
  insufficient: "too few labels",
};

function num(x: number | null | undefined, digits = 3): string {
  return x === null || x === undefined ? "—" : x.toFixed(digits);
}

/** A model's performance per window: the metric with its 95% band, the baseline, CBPE's estimate, and
 * the label coverage of each window (provisional windows are drawn, never judged). */
function PerformanceSection({ p }: { p: Performance }) {
  const names = p.baseline.metrics.map((m) => m.name);
  const [metric, setMetric] = useState(names[0] ?? "accuracy");
  const chosen = names.includes(metric) ? metric : names[0];
  const base = p.baseline.metrics.find((m) => m.name === chosen);
  const rows = p.windows.map((w) => ({ w, m: w.metrics.find((m) => m.name === chosen) }));
  const segmentRows = (p.segments ?? []).map((w) => ({ w, m: w.metrics.find((m) => m.name === chosen) }));
  const hasEstimate = rows.some((r) => r.m?.estimated !== null && r.m?.estimated !== undefined);
  return (
    <section aria-label="Performance against labels" className="performance">
      <h2>Performance against labels</h2>
      <p className="muted">
        {p.task === "binary" ? `Binary classifier, positive class “${p.positive}”` : p.task === "multiclass" ? "Multiclass classifier" : "Regressor"} · windows: {p.window} · a window with under {pct(p.coverage_threshold, 0)} of its labels is provisional (shown, never judged).
        {p.estimation && ` ${p.estimation}.`}
      </p>
      {p.warnings.map((w) => (
        <p key={w} role="alert" className="warning">
          {w}
        </p>
      ))}
      <label>
        Metric{" "}
        <select value={chosen} onChange={(e) => setMetric(e.currentTarget.value)} aria-label="performance metric">
          {p.baseline.metrics.map((m) => (
            <option key={m.name} value={m.name}>
              {m.title}
            </option>
          ))}
        </select>
      </label>
      <Chart
        label={`${base?.title ?? chosen} per window with 95% interval, baseline and estimate; label coverage per window`}
        deps={[p, chosen]}
        height={260}
        build={() => {
          const c = palette();
          const labels = rows.map((r) => r.w.label + (r.w.provisional ? " *" : ""));
          return {
            type: "line",
            data: {
              labels,
              datasets: [
                { label: "95% low", data: rows.map((r) => r.m?.ci_low ?? null), borderWidth: 0, pointRadius: 0, fill: false },
                { label: "95% interval", data: rows.map((r) => r.m?.ci_high ?? null), borderWidth: 0, pointRadius: 0, fill: "-1", backgroundColor: c.candidate + "33" },
                { label: base?.title ?? chosen, data: rows.map((r) => r.m?.value ?? null), borderColor: c.candidate, backgroundColor: c.candidate },
                ...(hasEstimate ? [{ label: "estimated (CBPE)", data: rows.map((r) => r.m?.estimated ?? null), borderColor: c.muted, borderDash: [6, 4], pointRadius: 2 }] : []),
                { label: "baseline", data: rows.map(() => base?.value ?? null), borderColor: c.baseline, pointRadius: 0, borderWidth: 1 },
                { type: "bar" as const, label: "label coverage", data: rows.map((r) => r.w.coverage), yAxisID: "coverage", backgroundColor: c.grid },
              ],
            },
            options: {
              scales: {
                y: { ticks: { color: c.muted }, grid: { color: c.grid } },
                coverage: { position: "right", min: 0, max: 1, ticks: { color: c.muted, callback: (v: unknown) => pct(Number(v), 0) }, grid: { display: false } },
                x: { ticks: { color: c.muted }, grid: { color: c.grid } },
              },
              plugins: { legend: { labels: { color: c.text, filter: (item: { text: string }) => item.text !== "95% low" } } },
            },
          } as never;
        }}
      />
      <table className="compact" aria-label="performance windows">
        <thead>
          <tr>
            <th>Window</th>
            <th className="num">Labels in</th>
            <th className="num">{base?.title ?? chosen} [95% CI]</th>
            <th className="num">Difference [95% CI]</th>
            {hasEstimate && <th className="num">Estimated [95% CI]</th>}
            <th>Status</th>
          </tr>
        </thead>
        <tbody>
          <tr>
            <td>baseline</td>
            <td className="num">
              {int(p.baseline.labelled)}/{int(p.baseline.inferences)}
            </td>
            <td className="num">
              {num(base?.value)} [{num(base?.ci_low)}, {num(base?.ci_high)}]
            </td>
            <td className="num">—</td>
            {hasEstimate && <td className="num">—</td>}
            <td>reference</td>
          </tr>
          {[...rows, ...segmentRows].map(({ w, m }) => (
            <tr key={w.label} data-window={w.label} className={m?.status === "worse" ? "status-moved" : w.provisional ? "muted" : ""}>
              <td>{w.label}</td>
              <td className="num">
                {int(w.labelled)}/{int(w.inferences)} ({pct(w.coverage, 0)})
              </td>
              <td className="num">
                {num(m?.value)} [{num(m?.ci_low)}, {num(m?.ci_high)}]
              </td>
              <td className="num">{m?.difference === null || m?.difference === undefined ? "—" : `${m.difference >= 0 ? "+" : ""}${num(m.difference)} [${num(m.diff_low)}, ${num(m.diff_high)}]`}</td>
              {hasEstimate && (
                <td className="num">
                  {num(m?.estimated)} [{num(m?.est_low)}, {num(m?.est_high)}]
                  {m?.estimation_error !== null && m?.estimation_error !== undefined && <span className="muted"> error {`${m.estimation_error >= 0 ? "+" : ""}${num(m.estimation_error)}`}</span>}
                </td>
              )}
              <td data-status={m?.status}>{PERF_STATUS[m?.status ?? ""] ?? m?.status}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** Themes of the stored answers and the response comparer: each theme's share per side, and the
 * answers nearest its centre side by side (content is shown only where the receiver stored it). */
function ThemesSection({ s }: { s: SemanticSummary }) {
  return (
    <section aria-label="Themes of the answers" className="themes">
      <h2>Themes of the answers</h2>
      <p className="muted">
        {int(s.texts_baseline)} baseline and {int(s.texts_candidate)} candidate answers embedded with {s.model}. A theme grew or shrank when its share's 95% interval (simultaneous over the themes) clears 2 points.
      </p>
      <table className="compact" aria-label="themes">
        <thead>
          <tr>
            <th>Theme</th>
            <th className="num">Baseline</th>
            <th className="num">Candidate</th>
            <th>Change (pp, 95% CI)</th>
          </tr>
        </thead>
        <tbody>
          {s.themes.map((t) => (
            <tr key={t.theme} data-theme={t.theme} data-change={t.change} className={t.change === "steady" ? "" : "status-moved"}>
              <td>{t.terms.join(" · ") || `theme ${t.theme}`}</td>
              <td className="num">{pct(t.share_baseline, 1)}</td>
              <td className="num">{pct(t.share_candidate, 1)}</td>
              <td>
                {t.change} {((t.share_candidate - t.share_baseline) * 100).toFixed(1)} [{(t.ci_low * 100).toFixed(1)}, {(t.ci_high * 100).toFixed(1)}]
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Answers side by side</h3>
      {s.themes.map((t) => (
        <details key={t.theme} className="comparer" data-theme={t.theme} open={t.change !== "steady"}>
          <summary>
            {t.terms.join(" · ") || `theme ${t.theme}`} <span className="muted">({pct(t.share_baseline, 1)} → {pct(t.share_candidate, 1)}, {t.change})</span>
          </summary>
          <div className="pair">
            <div>
              <h4>baseline</h4>
              {t.baseline_answers.length ? t.baseline_answers.map((a) => <blockquote key={a}>{a}</blockquote>) : <p className="muted">No baseline answer in this theme.</p>}
            </div>
            <div>
              <h4>candidate</h4>
              {t.candidate_answers.length ? t.candidate_answers.map((a) => <blockquote key={a}>{a}</blockquote>) : <p className="muted">No candidate answer in this theme.</p>}
            </div>
          </div>
        </details>
      ))}
      {s.novel.length > 0 && (
        <>
          <h3>Candidate answers least like any baseline answer</h3>
          <ul className="novel" aria-label="novel answers">
            {s.novel.map((n) => (
              <li key={n.text}>
                <span className="muted">cos {n.similarity.toFixed(2)} to the nearest baseline answer</span>
                <blockquote>{n.text}</blockquote>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

/** The explanation of the report, asked for on demand (an LLM call can take seconds). */
function ExplainSection({ path, params }: { path: string; params: Record<string, string | null | undefined> }) {
  const [state, setState] = useState<{ busy?: boolean; e?: Explanation; error?: string }>({});
  return (
    <section aria-label="Explanation" className="explanation">
      <h2>Explanation</h2>
      {!state.e && (
        <button
          type="button"
          disabled={state.busy}
          onClick={async () => {
            setState({ busy: true });
            try {
              const r = await request<Report>(path, { ...params, explain: "true" });
              setState({ e: r.explanation ?? undefined });
            } catch (err) {
              setState({ error: (err as Error).message });
            }
          }}
        >
          {state.busy ? "Explaining…" : "Explain this report"}
        </button>
      )}
      {state.error && (
        <p role="alert" className="error">
          {state.error}
        </p>
      )}
      {state.e && (
        <div className="card" data-source={state.e.source}>
          <p className="muted">
            {state.e.source === "llm" ? `By ${state.e.model}` : `From the rules — no LLM explanation: ${state.e.fallback_reason}`} · severity {state.e.severity}
          </p>
          <p>
            <Ticks text={state.e.summary} />
          </p>
          {state.e.causes.length > 0 && (
            <ul aria-label="likely causes">
              {state.e.causes.map((c) => (
                <li key={c.cause}>
                  <Ticks text={c.cause} /> <span className="muted">({c.evidence.join(", ")})</span>
                </li>
              ))}
            </ul>
          )}
          <ul className="muted" aria-label="next steps">
            {state.e.next_steps.map((x) => (
              <li key={x}>{x}</li>
            ))}
          </ul>
        </div>
      )}
    </section>
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
  const model = params.get("model");
  const scope = model ? { chunk: params.get("chunk") ?? undefined } : { agent: params.get("agent") ?? undefined, env: params.get("env") ?? undefined };
  const path = model ? `/models/${encodeURIComponent(model)}/diff` : "/diff";
  const report = useApi<Report>(baseline && candidate ? path : null, { baseline, candidate, ...scope });
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
  const order = { moved: 0, negligible: 1, "detectable but negligible": 1, unchanged: 2, "no data": 3 } as Record<string, number>;
  const sorted = [...dims].sort((a, b) => (order[a.status] ?? 9) - (order[b.status] ?? 9) || b.score - a.score || Math.abs(b.effect ?? 0) - Math.abs(a.effect ?? 0));
  const sequences = dims.find((d) => d.name === "tool_sequence");
  const single = !model && r.candidate.versions.length === 1 ? r.candidate.versions[0] : null;
  const unit = r.baseline.unit ?? "runs";
  return (
    <section className="drift">
      <p className="crumbs">
        {model ? (
          <Link href={`/models?model=${encodeURIComponent(model)}`}>Models</Link>
        ) : (
          <Link href={`/versions?baseline=${encodeURIComponent(baseline)}&candidate=${encodeURIComponent(candidate)}`}>Versions</Link>
        )}{" "}
        / {model ? `${model}: drift report` : "drift report"}
      </p>
      <div className="page-head">
        <h1>
          {r.baseline.label} → {r.candidate.label}
        </h1>
        <Verdict verdict={v.verdict} />
        <a className="muted" href={`/api/v1${path}${query({ baseline, candidate, ...scope })}`} target="_blank" rel="noreferrer">
          JSON
        </a>
      </div>
      <div className="summary-grid">
        <div className="card">
          <h2>Composite score</h2>
          {v.verdict === "insufficient" ? (
            <p className="big muted" data-score="none">no score: too few {unit}</p>
          ) : (
            <>
              <p className="big">
                {v.score.toFixed(2)} <span className="muted">95% CI {v.score_low.toFixed(2)}–{v.score_high.toFixed(2)}</span>
              </p>
              <ScoreBar score={v.score} low={v.score_low} high={v.score_high} verdict={v.verdict} />
            </>
          )}
          <p className="muted">
            {int(r.baseline.runs)} baseline {unit} ({when(r.baseline.start)} – {when(r.baseline.end)}) · {int(r.candidate.runs)} candidate {unit}
          </p>
          {[r.baseline, r.candidate].some((s) => s.sample_rates?.length) && (
            <p className="sampling" data-sampled="true">
              Sampled data:{" "}
              {[
                ["baseline", r.baseline],
                ["candidate", r.candidate],
              ]
                .filter(([, s]) => (s as typeof r.baseline).sample_rates?.length)
                .map(([name, s]) => {
                  const side = s as typeof r.baseline;
                  return `${name} kept ${side.sample_rates!.map((x) => `${Math.round(x * 100)}%`).join("/")} of traces (≈ ${int(side.runs_estimated ?? side.runs)} ${unit})`;
                })
                .join("; ")}
              . Rates and tests are those of the kept runs; counts are scaled back.
            </p>
          )}
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
              {unit === "runs" ? "Runs" : "Inferences"} still needed: {Object.entries(v.runs_needed).map(([side, n]) => `${side} ${int(n)}`).join(", ")}
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
      <ExplainSection path={path} params={{ baseline, candidate, ...scope }} />
      {r.semantic && <ThemesSection s={r.semantic} />}
      {r.performance && <PerformanceSection p={r.performance} />}
      <section aria-label="Dimensions">
        <h2>{model ? "Features, prediction and multivariate signal" : "Dimensions"}</h2>
        <p className="muted">
          Moved {model ? "features" : "dimensions"} are open, strongest effect first; click any other to see its chart. p values are Holm-adjusted across {model ? "features (one family)" : "dimensions"}.
        </p>
        {sorted.map((d) => (
          <DimensionRow key={d.name + (d.segment ?? "")} d={d} unit={unit} />
        ))}
      </section>
      {sequences && Object.keys(sequences.candidate_distribution.rates ?? {}).length > 0 && <SequenceChanges d={sequences} />}
    </section>
  );
}
