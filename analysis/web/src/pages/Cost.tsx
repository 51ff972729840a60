// Cost: model-call cost over time, stacked by model or version, against a budget line; totals below.
import { type CostSeries, type Health, useApi } from "../api";
import { Chart } from "../components/Chart";
import { EmptyState } from "../components/EmptyState";
import { ErrorLine, Loading } from "../components/Status";
import { int, usd, when } from "../format";
import { palette, SERIES } from "../theme";
import { useQueryState } from "../urlState";

interface CostTable {
  by: string;
  rows: Record<string, string | number | null>[];
  total: number;
  unpriced_models: string[];
}

export function CostPage({ health }: { health: Health | null }) {
  const [params, set] = useQueryState();
  const by = params.get("by") === "version" ? "version" : "model";
  const bucket = params.get("bucket") === "day" ? "day" : "hour";
  const since = params.get("since") ?? "7d";
  const budgetText = params.get("budget") ?? "";
  const budget = budgetText && Number.isFinite(Number(budgetText)) ? Number(budgetText) : null;
  const series = useApi<CostSeries>("/cost/series", { by, bucket, since });
  const table = useApi<CostTable>("/cost", { by, since });
  if (health && health.spans === 0) return <EmptyState health={health} what="model calls" />;
  const controls = (
    <form className="filters" aria-label="Cost view" onSubmit={(e) => e.preventDefault()}>
      <label>
        Stack by
        <select value={by} onChange={(e) => set({ by: e.currentTarget.value === "model" ? null : e.currentTarget.value })}>
          <option value="model">model</option>
          <option value="version">version</option>
        </select>
      </label>
      <label>
        Per
        <select value={bucket} onChange={(e) => set({ bucket: e.currentTarget.value === "hour" ? null : e.currentTarget.value })}>
          <option value="hour">hour</option>
          <option value="day">day</option>
        </select>
      </label>
      <label>
        Since
        <select value={since} onChange={(e) => set({ since: e.currentTarget.value === "7d" ? null : e.currentTarget.value })}>
          {["24h", "7d", "30d", "90d"].map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
      </label>
      <label>
        Budget per {bucket} (USD)
        <input name="budget" inputMode="decimal" defaultValue={budgetText} placeholder="none" onBlur={(e) => set({ budget: e.currentTarget.value || null })} onKeyDown={(e) => e.key === "Enter" && set({ budget: e.currentTarget.value || null })} />
      </label>
    </form>
  );
  if (series.error) return <ErrorLine error={series.error} />;
  if (!series.data) return <Loading what="costs" />;
  const s = series.data;
  const times = [...new Set(s.points.map((p) => p.t))].sort();
  const keys = [...new Set(s.points.map((p) => p.key ?? "(unknown)"))];
  const value = new Map(s.points.map((p) => [`${p.t}|${p.key ?? "(unknown)"}`, p.cost ?? 0]));
  const over = budget === null ? [] : times.filter((t) => keys.reduce((a, k) => a + (value.get(`${t}|${k}`) ?? 0), 0) > budget);
  return (
    <section>
      <div className="page-head">
        <h1>Cost</h1>
        <span className="muted">
          {usd(s.total, 4)} since {since}
          {s.unpriced_models.length > 0 && ` · unpriced models: ${s.unpriced_models.join(", ")}`}
        </span>
      </div>
      {controls}
      {times.length === 0 ? (
        <p className="muted">No model call in this period.</p>
      ) : (
        <div className="card">
          <Chart
            label={`cost per ${bucket} stacked by ${by}`}
            deps={[s, budget]}
            height={300}
            build={() => {
              const c = palette();
              return {
                type: "bar",
                data: {
                  labels: times.map((t) => when(t).slice(5, bucket === "day" ? 10 : 16)),
                  datasets: [
                    ...keys.map((k, i) => ({ type: "bar" as const, label: k, data: times.map((t) => value.get(`${t}|${k}`) ?? 0), backgroundColor: SERIES[i % SERIES.length], stack: "cost" })),
                    ...(budget === null ? [] : [{ type: "line" as const, label: `budget ${usd(budget)}`, data: times.map(() => budget), borderColor: c.block, borderDash: [6, 4], pointRadius: 0 }]),
                  ],
                },
                options: {
                  scales: {
                    x: { stacked: true, ticks: { color: c.muted, maxTicksLimit: 12 }, grid: { display: false } },
                    y: { stacked: true, ticks: { color: c.muted, callback: (v) => usd(Number(v)) }, grid: { color: c.grid } },
                  },
                  plugins: { legend: { labels: { color: c.text } }, tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${usd(Number(ctx.raw))}` } } },
                },
              };
            }}
          />
          {budget !== null && (
            <p className={over.length ? "error" : "muted"} role="status">
              {over.length ? `${over.length} ${bucket}(s) over the budget of ${usd(budget)}` : `Every ${bucket} is within the budget of ${usd(budget)}`}
            </p>
          )}
        </div>
      )}
      {table.data && (
        <table aria-label={`Cost by ${by}`}>
          <thead>
            <tr>
              <th>{by}</th>
              <th className="num">Calls</th>
              <th className="num">Input tokens</th>
              <th className="num">Output tokens</th>
              <th className="num">Cost</th>
              <th className="num">Priced from table / reported / unpriced</th>
            </tr>
          </thead>
          <tbody>
            {table.data.rows.map((r) => (
              <tr key={String(r[by])}>
                <td>{String(r[by] ?? "(unknown)")}</td>
                <td className="num">{int(Number(r.calls))}</td>
                <td className="num">{int(Number(r.input_tokens))}</td>
                <td className="num">{int(Number(r.output_tokens))}</td>
                <td className="num">{usd(r.cost === null ? null : Number(r.cost))}</td>
                <td className="num">
                  {int(Number(r.from_table))} / {int(Number(r.reported))} / {int(Number(r.unpriced))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
