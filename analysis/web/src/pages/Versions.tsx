// Versions: one row per version with headline metrics; pick a baseline and a candidate to compare.
import { Link, useLocation } from "wouter";
import { type Baselines, type BaselineRecord, type Health, useApi, type VersionRow } from "../api";
import { EmptyState } from "../components/EmptyState";
import { ErrorLine, Loading } from "../components/Status";
import { int, ms, pct, usd, when } from "../format";
import { useQueryState } from "../urlState";

export function VersionsPage({ health }: { health: Health | null }) {
  const [params, set] = useQueryState();
  const [, navigate] = useLocation();
  const agent = params.get("agent") ?? undefined;
  const env = params.get("env") ?? undefined;
  const list = useApi<{ versions: VersionRow[] }>("/versions", { agent, env });
  const baselines = useApi<Baselines>("/baselines");
  if (health && health.spans === 0) return <EmptyState health={health} what="versions" />;
  if (list.error) return <ErrorLine error={list.error} />;
  if (!list.data) return <Loading what="versions" />;
  const versions = list.data.versions;
  // the current record per (agent, env) is the newest one; older records are its history
  const current = new Map<string, BaselineRecord>();
  for (const b of [...(baselines.data?.baselines ?? [])].filter((b) => !b.name).sort((x, y) => (x.set_at ?? "").localeCompare(y.set_at ?? "")))
    current.set(`${b.agent ?? ""}|${b.env ?? ""}`, b);
  const recorded = new Set([...current.values()].map((b) => b.version));
  const baseline = params.get("baseline") ?? versions.at(-2)?.version ?? "";
  const candidate = params.get("candidate") ?? versions.at(-1)?.version ?? "";
  if (!versions.length)
    return (
      <section>
        <h1>Versions</h1>
        <p className="muted">
          Runs arrived, but none carries a version. Set <code>service.version</code> (or <code>OTEL_RESOURCE_ATTRIBUTES=service.version=…</code>) in your application, or
          the receiver's <code>--agent-version-key</code>.
        </p>
      </section>
    );
  return (
    <section>
      <div className="page-head">
        <h1>Versions</h1>
        <span className="muted">pick a baseline and a candidate, then compare</span>
      </div>
      <table aria-label="Versions">
        <thead>
          <tr>
            <th>Baseline</th>
            <th>Candidate</th>
            <th>Version</th>
            <th className="num">Runs</th>
            <th>First seen</th>
            <th>Last seen</th>
            <th className="num">Error rate</th>
            <th className="num">p50 / p95 latency</th>
            <th className="num">Mean input tokens</th>
            <th className="num">Cost / run</th>
            <th>Top outcome</th>
            <th>Agents</th>
          </tr>
        </thead>
        <tbody>
          {versions.map((v) => (
            <tr key={v.version}>
              <td>
                <input type="radio" name="baseline" aria-label={`baseline ${v.version}`} checked={baseline === v.version} onChange={() => set({ baseline: v.version })} />
              </td>
              <td>
                <input type="radio" name="candidate" aria-label={`candidate ${v.version}`} checked={candidate === v.version} onChange={() => set({ candidate: v.version })} />
              </td>
              <td>
                <Link href={`/runs?version=${encodeURIComponent(v.version)}`}>{v.version}</Link>
                {recorded.has(v.version) && (
                  <span className="badge" title="the recorded baseline">
                    baseline
                  </span>
                )}
              </td>
              <td className="num">{int(v.runs)}</td>
              <td>{when(v.first_seen)}</td>
              <td>{when(v.last_seen)}</td>
              <td className="num">{pct(v.error_rate)}</td>
              <td className="num">
                {ms(v.p50_ms)} / {ms(v.p95_ms)}
              </td>
              <td className="num">{int(v.mean_input_tokens)}</td>
              <td className="num">{usd(v.mean_cost)}</td>
              <td>{v.top_outcome ?? "—"}</td>
              <td>{v.agents.join(", ")}</td>
            </tr>
          ))}
          {(baselines.data?.named ?? []).map((b) => (
            <tr key={b.id} className="named-baseline">
              <td>
                <input type="radio" name="baseline" aria-label={`baseline @${b.name}`} checked={baseline === `@${b.name}`} onChange={() => set({ baseline: `@${b.name}` })} />
              </td>
              <td />
              <td>
                <Link href="/playground">@{b.name}</Link>
                <span className="badge" title="a named baseline: exactly its promoted runs">
                  named
                </span>
              </td>
              <td className="num">{int(b.runs ?? null)}</td>
              <td colSpan={7} className="muted">
                promoted {when(b.set_at ?? null)} by {b.set_by}
                {b.note ? ` · ${b.note}` : ""}
              </td>
              <td>{(b.versions ?? []).join(", ")}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="actions">
        <button
          type="button"
          className="primary"
          disabled={!baseline || !candidate || baseline === candidate}
          onClick={() => navigate(`/diff?baseline=${encodeURIComponent(baseline)}&candidate=${encodeURIComponent(candidate)}${agent ? `&agent=${encodeURIComponent(agent)}` : ""}${env ? `&env=${encodeURIComponent(env)}` : ""}`)}
        >
          Compare {baseline || "…"} → {candidate || "…"}
        </button>
        {baseline === candidate && baseline && <span className="muted">choose two different versions</span>}
      </div>
    </section>
  );
}
