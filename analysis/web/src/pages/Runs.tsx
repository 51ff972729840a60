// Runs: a filterable, paginated list that follows new runs as they arrive (polling page one).
import { useEffect, useRef, useState } from "react";
import { Link } from "wouter";
import { type Health, type RunsPage as Page, useApi, type VersionRow } from "../api";
import { EmptyState } from "../components/EmptyState";
import { ErrorLine, Loading } from "../components/Status";
import { int, ms, short, usd, when } from "../format";
import { useQueryState } from "../urlState";

const FILTERS = ["q", "agent", "version", "env", "status", "outcome", "model", "tool", "started_after", "started_before"] as const;
const LIVE_MS = 5000;

export function RunsPage({ health }: { health: Health | null }) {
  const [params, set] = useQueryState();
  const filters = Object.fromEntries(FILTERS.map((k) => [k, params.get(k) ?? undefined]));
  const sort = params.get("sort") ?? "start_time";
  const order = params.get("order") ?? "desc";
  const cursor = params.get("cursor") ?? undefined;
  const slowOnly = params.get("slow") === "1";
  const live = params.get("live") !== "0" && !cursor && sort === "start_time" && order === "desc";
  const page = useApi<Page>("/runs", { ...filters, sort, order, cursor, limit: 50, slow: slowOnly ? "true" : undefined }, live ? LIVE_MS : 0);
  const versions = useApi<{ versions: VersionRow[] }>("/versions");
  const seen = useRef<Set<string> | null>(null);
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const searchBox = useRef<HTMLInputElement>(null);
  const [formKey, setFormKey] = useState(0); // remounts the uncontrolled inputs when filters are cleared

  // Rows that were not on the previous poll are marked new for a moment.
  useEffect(() => {
    if (!page.data) return;
    const ids = page.data.runs.map((r) => r.run_id);
    if (seen.current) setFresh(new Set(ids.filter((id) => !seen.current!.has(id))));
    seen.current = new Set(ids);
  }, [page.data]);
  useEffect(() => {
    seen.current = null;
  }, [JSON.stringify(filters), sort, order, cursor]);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const el = document.activeElement as HTMLInputElement | null;
      const typing = !!el && (el.tagName === "TEXTAREA" || (el.tagName === "INPUT" && !["checkbox", "radio", "button", "submit"].includes(el.type)));
      if (e.key === "/" && !typing) {
        e.preventDefault();
        searchBox.current?.focus();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  if (health && health.spans === 0) return <EmptyState health={health} />;
  const change = (k: string) => (e: { currentTarget: { value: string } }) => set({ [k]: e.currentTarget.value, cursor: null });
  // The URL's version is an option before /versions answers, so a shared link shows its filter at once.
  const known = versions.data?.versions.map((v) => v.version) ?? [];
  const versionNames = filters.version && !known.includes(filters.version) ? [filters.version, ...known] : known;
  return (
    <section>
      <div className="page-head">
        <h1>Runs</h1>
        <span className="muted" aria-live="polite">
          {live ? "● live — new runs appear as they arrive" : "paused"}
        </span>
        <label className="inline">
          <input type="checkbox" checked={params.get("live") !== "0"} onChange={(e) => set({ live: e.currentTarget.checked ? null : "0" })} /> Follow new runs
        </label>
      </div>
      <form key={formKey} className="filters" role="search" aria-label="Filter runs" onSubmit={(e) => e.preventDefault()}>
        <label>
          Search
          <input ref={searchBox} name="q" type="search" placeholder="run id, agent, version  ( / )" defaultValue={filters.q ?? ""} onChange={change("q")} />
        </label>
        <label>
          Version
          <select name="version" value={filters.version ?? ""} onChange={change("version")}>
            <option value="">any</option>
            {versionNames.map((v) => (
              <option key={v} value={v}>
                {v}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select name="status" value={filters.status ?? ""} onChange={change("status")}>
            <option value="">any</option>
            <option value="OK">OK</option>
            <option value="ERROR">ERROR</option>
          </select>
        </label>
        {(["agent", "env", "outcome", "model", "tool"] as const).map((k) => (
          <label key={k}>
            {k[0].toUpperCase() + k.slice(1)}
            <input name={k} defaultValue={filters[k] ?? ""} onBlur={change(k)} onKeyDown={(e) => e.key === "Enter" && change(k)(e)} />
          </label>
        ))}
        <label>
          From
          <input name="started_after" type="datetime-local" defaultValue={(filters.started_after ?? "").slice(0, 16)} onChange={(e) => set({ started_after: e.currentTarget.value ? new Date(e.currentTarget.value).toISOString() : null, cursor: null })} />
        </label>
        <label>
          To
          <input name="started_before" type="datetime-local" defaultValue={(filters.started_before ?? "").slice(0, 16)} onChange={(e) => set({ started_before: e.currentTarget.value ? new Date(e.currentTarget.value).toISOString() : null, cursor: null })} />
        </label>
        <label>
          Sort
          <select name="sort" value={`${sort}:${order}`} onChange={(e) => { const [s, o] = e.currentTarget.value.split(":"); set({ sort: s === "start_time" ? null : s, order: o === "desc" ? null : o, cursor: null }); }}>
            <option value="start_time:desc">newest first</option>
            <option value="start_time:asc">oldest first</option>
            <option value="duration_ms:desc">slowest first</option>
            <option value="cost:desc">most expensive first</option>
          </select>
        </label>
        <label className="inline">
          <input type="checkbox" name="slow" checked={slowOnly} onChange={(e) => set({ slow: e.currentTarget.checked ? "1" : null, cursor: null })} /> Only slow runs
        </label>
        {[...FILTERS, "slow", "sort", "order"].some((k) => params.get(k)) && (
          <button
            type="button"
            onClick={() => {
              set(Object.fromEntries([...FILTERS, "slow", "sort", "order", "cursor"].map((k) => [k, null])));
              setFormKey((n) => n + 1);
            }}
          >
            Clear filters
          </button>
        )}
      </form>
      {page.error && <ErrorLine error={page.error} />}
      {!page.data && page.loading && <Loading what="runs" />}
      {page.data && page.data.runs.length === 0 && <p className="muted">No run matches these filters.</p>}
      {page.data && page.data.runs.length > 0 && (
        <>
          <table className="runs" aria-label="Runs">
            <thead>
              <tr>
                <th>Started</th>
                <th>Run</th>
                <th>Agent</th>
                <th>Version</th>
                <th>Status</th>
                <th>Outcome</th>
                <th className="num">Duration</th>
                <th className="num">LLM / tools</th>
                <th className="num">Tokens in / out</th>
                <th className="num">Cost</th>
                <th>Tools</th>
              </tr>
            </thead>
            <tbody>
              {page.data.runs.map((r) => (
                <tr key={r.run_id} className={[r.status === "ERROR" ? "is-error" : "", r.slow ? "is-slow" : "", fresh.has(r.run_id) ? "is-new" : ""].join(" ")} data-run-id={r.run_id}>
                  <td>{when(r.start_time)}</td>
                  <td>
                    <Link href={`/runs/${encodeURIComponent(r.run_id)}`} className="mono">
                      {short(r.trace_id)}
                    </Link>
                  </td>
                  <td>{r.agent ?? "—"}</td>
                  <td>{r.version ?? "—"}</td>
                  <td>{r.status === "ERROR" ? <span className="badge badge-error">ERROR</span> : "OK"}</td>
                  <td>{r.outcome ?? "—"}</td>
                  <td className="num">
                    {ms(r.duration_ms)}
                    {r.slow && (
                      <span className="badge badge-slow" title="slower than the 95th percentile of its version">
                        slow
                      </span>
                    )}
                  </td>
                  <td className="num">
                    {r.llm_calls} / {r.tool_calls}
                  </td>
                  <td className="num">
                    {int(r.input_tokens)} / {int(r.output_tokens)}
                  </td>
                  <td className="num">{usd(r.cost)}</td>
                  <td className="tools">{(r.tool_sequence ?? []).join(" → ") || "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <div className="pager">
            {cursor && (
              <button type="button" onClick={() => set({ cursor: null })}>
                ← First page
              </button>
            )}
            {page.data.next_cursor && (
              <button type="button" onClick={() => set({ cursor: page.data!.next_cursor })}>
                Next page →
              </button>
            )}
            <span className="muted">{page.data.slow_definition}</span>
          </div>
        </>
      )}
    </section>
  );
}
