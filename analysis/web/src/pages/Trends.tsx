// Trends: each scheduled report's score and verdict over time, with deploy markers (the time each
// version was first seen), from the drift history the scheduler writes.
import type { Plugin } from "chart.js";
import { useApi, type HistoryRow, type VersionRow } from "../api";
import { Chart } from "../components/Chart";
import { ErrorLine, Loading, Verdict } from "../components/Status";
import { Ticks } from "../components/Ticks";
import { when } from "../format";
import { palette } from "../theme";
import { useQueryState } from "../urlState";

const EXAMPLE = `# driftline.toml
[[report]]
name = "hourly-drift"
cron = "0 * * * *"
baseline = "previous"      # a version, previous, latest, or a window such as 7d..1d
candidate = "latest"
formats = ["html", "json"]
output_dir = "./reports"`;

/** Vertical lines at deploys: drawn by a small Chart.js plugin so they scale with the chart. */
function deployMarkers(deploys: { t: number; label: string }[], color: string): Plugin {
  return {
    id: "deploys",
    afterDatasetsDraw(chart) {
      const { ctx, chartArea, scales } = chart;
      ctx.save();
      ctx.strokeStyle = color;
      ctx.fillStyle = color;
      ctx.setLineDash([4, 4]);
      ctx.font = "11px sans-serif";
      for (const d of deploys) {
        const x = scales.x.getPixelForValue(d.t);
        if (x < chartArea.left || x > chartArea.right) continue;
        ctx.beginPath();
        ctx.moveTo(x, chartArea.top);
        ctx.lineTo(x, chartArea.bottom);
        ctx.stroke();
        ctx.fillText(d.label, x + 3, chartArea.top + 10);
      }
      ctx.restore();
    },
  };
}

export function TrendsPage() {
  const [params, set] = useQueryState();
  const history = useApi<{ history: HistoryRow[] }>("/history");
  const versions = useApi<{ versions: VersionRow[] }>("/versions");
  if (history.error) return <ErrorLine error={history.error} />;
  if (!history.data) return <Loading what="the drift history" />;
  const reports = [...new Set(history.data.history.map((r) => r.report))].sort();
  if (!reports.length)
    return (
      <section className="empty">
        <h1>Trends</h1>
        <h2>No scheduled report has run yet</h2>
        <p>
          Trends plot the score and verdict of each scheduled report over time. Add a <code>[[report]]</code> to <code>driftline.toml</code> and run{" "}
          <code>driftline schedule</code> (or <code>driftline schedule --once NAME</code> from cron):
        </p>
        <pre>{EXAMPLE}</pre>
      </section>
    );
  const report = params.get("report") && reports.includes(params.get("report")!) ? params.get("report")! : reports[0];
  const rows = history.data.history.filter((r) => r.report === report);
  const deploys = (versions.data?.versions ?? []).map((v) => ({ t: Date.parse(v.first_seen), label: v.version }));
  const meaning = rows.filter((r) => typeof r.semantic?.effect === "number");
  const t0 = Date.parse(rows[0].slot);
  const t1 = Date.parse(rows[rows.length - 1].slot);
  return (
    <section>
      <div className="page-head">
        <h1>Trends</h1>
        <label>
          Report{" "}
          <select value={report} onChange={(e) => set({ report: e.currentTarget.value })}>
            {reports.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
      </div>
      <div className="card">
        <Chart
          label={`${report}: composite score per scheduled run`}
          deps={[rows, deploys.length]}
          height={280}
          build={() => {
            const c = palette();
            const color = (v: string) => (v === "block" ? c.block : v === "review" ? c.review : v === "stable" ? c.stable : c.muted);
            return {
              type: "line",
              data: {
                datasets: [
                  { label: "95% CI high", data: rows.map((r) => ({ x: Date.parse(r.slot), y: r.score_high })), borderWidth: 0, pointRadius: 0, fill: "+1", backgroundColor: c.candidate + "22" },
                  { label: "95% CI low", data: rows.map((r) => ({ x: Date.parse(r.slot), y: r.score_low })), borderWidth: 0, pointRadius: 0 },
                  {
                    label: "score",
                    data: rows.map((r) => ({ x: Date.parse(r.slot), y: r.score })),
                    borderColor: c.text,
                    pointBackgroundColor: rows.map((r) => color(r.verdict)),
                    pointRadius: 5,
                  },
                ],
              },
              options: {
                scales: {
                  x: { type: "linear", min: Math.min(t0, ...deploys.map((d) => d.t).filter((t) => t >= t0 - 86_400_000)), max: t1 === t0 ? t1 + 3_600_000 : t1, ticks: { color: c.muted, maxTicksLimit: 6, callback: (v) => when(new Date(Number(v)).toISOString()).slice(5, 16) }, grid: { color: c.grid } },
                  y: { min: 0, max: 1, ticks: { color: c.muted }, grid: { color: c.grid }, title: { display: true, text: "composite score", color: c.muted } },
                },
                plugins: {
                  legend: { display: false },
                  tooltip: { callbacks: { title: (items) => when(new Date(Number(items[0].parsed.x)).toISOString()), label: (ctx) => (ctx.datasetIndex === 2 ? `${rows[ctx.dataIndex].verdict} ${Number(ctx.parsed.y).toFixed(2)}` : "") } },
                },
              },
              plugins: [deployMarkers(deploys, c.muted)],
            };
          }}
        />
        <p className="legend muted">
          points coloured by verdict · shaded band = 95% CI · dashed lines = a version first seen (deploy)
        </p>
      </div>
      {meaning.length > 0 && (
        <div className="card" aria-label="Semantic stability">
          <h2>Meaning of answers</h2>
          <Chart
            label={`${report}: centroid cosine distance of the answers per scheduled run, with 95% interval`}
            deps={[meaning]}
            height={200}
            build={() => {
              const c = palette();
              return {
                type: "line",
                data: {
                  datasets: [
                    { label: "95% CI high", data: meaning.map((r) => ({ x: Date.parse(r.slot), y: r.semantic!.ci_high ?? null })), borderWidth: 0, pointRadius: 0, fill: "+1", backgroundColor: c.candidate + "22" },
                    { label: "95% CI low", data: meaning.map((r) => ({ x: Date.parse(r.slot), y: r.semantic!.ci_low ?? null })), borderWidth: 0, pointRadius: 0 },
                    {
                      label: "cosine distance",
                      data: meaning.map((r) => ({ x: Date.parse(r.slot), y: r.semantic!.effect ?? null })),
                      borderColor: c.text,
                      pointBackgroundColor: meaning.map((r) => (r.semantic!.status === "moved" ? c.block : c.stable)),
                      pointRadius: 5,
                    },
                  ],
                },
                options: {
                  scales: {
                    x: { type: "linear", ticks: { color: c.muted, maxTicksLimit: 6, callback: (v) => when(new Date(Number(v)).toISOString()).slice(5, 16) }, grid: { color: c.grid } },
                    y: { min: 0, ticks: { color: c.muted }, grid: { color: c.grid }, title: { display: true, text: "cosine distance", color: c.muted } },
                  },
                  plugins: { legend: { display: false } },
                },
              };
            }}
          />
          <p className="legend muted">red points: the meaning moved (significant after correction, interval beyond its floor) · shaded band = 95% CI</p>
        </div>
      )}
      <table aria-label="Scheduled runs">
        <thead>
          <tr>
            <th>Slot</th>
            <th>Verdict</th>
            <th className="num">Score</th>
            <th>Baseline → candidate</th>
            <th>Persistence</th>
            {meaning.length > 0 && <th className="num">Meaning</th>}
            <th>Top hypothesis</th>
          </tr>
        </thead>
        <tbody>
          {[...rows].reverse().map((r) => (
            <tr key={r.slot + r.run_at}>
              <td>{when(r.slot)}</td>
              <td>
                <Verdict verdict={r.verdict} />
              </td>
              <td className="num">
                {r.score.toFixed(2)} <span className="muted">[{r.score_low.toFixed(2)}, {r.score_high.toFixed(2)}]</span>
              </td>
              <td>
                {r.baseline} → {r.candidate}
              </td>
              <td>{r.persistence || "—"}</td>
              {meaning.length > 0 && <td className="num">{typeof r.semantic?.effect === "number" ? `${r.semantic.effect.toFixed(3)} ${r.semantic.status}` : "—"}</td>}
              <td>{r.hypotheses[0] ? <Ticks text={r.hypotheses[0]} /> : "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
