// Playground: send a prompt as a chosen agent version through the configured endpoint. Each call is
// instrumented and lands as a run (environment "playground"); pick the answers (or any runs by id) and
// promote them to a named baseline, which any drift report can then use as its baseline (@name).
import { useEffect, useState } from "react";
import { Link } from "wouter";
import { ApiError, type Baselines, type PlaygroundRun, type PlaygroundState, request, useApi, type VersionRow } from "../api";
import { ErrorLine, Loading } from "../components/Status";
import { int, ms, when } from "../format";

const SESSION_KEY = "driftline.playground";

interface Sent extends PlaygroundRun {
  landed: boolean;
  picked: boolean;
}

function writeError(e: unknown): string {
  const err = e as Error;
  if (err instanceof ApiError && err.status === 403) return "Sending and promoting need the API started with --auth-token (writes are off otherwise).";
  return err.message;
}

/** Poll the run until the receiver has written it and the API sees it: only landed runs can be promoted. */
function useLanding(sent: Sent[], setSent: (f: (s: Sent[]) => Sent[]) => void) {
  const waiting = sent.filter((s) => !s.landed).map((s) => s.run_id);
  const key = waiting.join(",");
  useEffect(() => {
    if (!key) return;
    const id = window.setInterval(async () => {
      for (const runId of key.split(",")) {
        try {
          await request(`/runs/${encodeURIComponent(runId)}`);
          setSent((all) => all.map((s) => (s.run_id === runId ? { ...s, landed: true, picked: s.error === null } : s)));
        } catch {
          // not written yet: the receiver flushes within a second or two, the API's snapshot follows
        }
      }
    }, 1000);
    return () => window.clearInterval(id);
  }, [key, setSent]);
}

function Compare({ name, versions }: { name: string; versions: string[] }) {
  const [candidate, setCandidate] = useState(versions.at(-1) ?? "");
  if (!versions.length) return null;
  return (
    <span className="actions">
      <select aria-label={`candidate for @${name}`} value={candidate} onChange={(e) => setCandidate(e.target.value)}>
        {versions.map((v) => (
          <option key={v}>{v}</option>
        ))}
      </select>
      <Link href={`/diff?baseline=${encodeURIComponent("@" + name)}&candidate=${encodeURIComponent(candidate)}`}>Compare @{name} → {candidate}</Link>
    </span>
  );
}

export function PlaygroundPage() {
  const state = useApi<PlaygroundState>("/playground");
  const versions = useApi<{ versions: VersionRow[] }>("/versions");
  const named = useApi<Baselines>("/baselines");
  const [agent, setAgent] = useState("playground");
  const [version, setVersion] = useState("");
  const [system, setSystem] = useState<string | null>(null);
  const [prompt, setPrompt] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [sent, setSentRaw] = useState<Sent[]>(() => JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? "[]") as Sent[]);
  const setSent = (f: (s: Sent[]) => Sent[]) =>
    setSentRaw((s) => {
      const next = f(s);
      sessionStorage.setItem(SESSION_KEY, JSON.stringify(next));
      return next;
    });
  const [extra, setExtra] = useState("");
  const [name, setName] = useState("");
  const [replace, setReplace] = useState(false);
  const [note, setNote] = useState("");
  const [promoted, setPromoted] = useState<{ ok?: string; error?: string }>({});
  useLanding(sent, setSent);
  const landedCount = sent.filter((x) => x.landed).length;
  const reloadVersions = versions.reload;
  useEffect(() => reloadVersions(), [landedCount, reloadVersions]); // a landed run may bring a new version

  if (state.error) return <ErrorLine error={state.error} />;
  if (!state.data) return <Loading what="the playground" />;
  const s = state.data;
  const known = versions.data?.versions ?? [];
  const agents = [...new Set(known.flatMap((v) => v.agents))];
  const picked = [
    ...sent.filter((x) => x.picked).map((x) => x.run_id),
    ...extra
      .split(/[\s,]+/)
      .map((x) => x.trim())
      .filter(Boolean),
  ];

  async function send() {
    setBusy(true);
    setError(null);
    try {
      const run = await request<PlaygroundRun>("/playground", undefined, {
        method: "POST",
        body: JSON.stringify({ prompt, version, agent, ...(system !== null ? { system } : {}) }),
      });
      setSent((all) => [{ ...run, landed: false, picked: false }, ...all]);
    } catch (e) {
      setError(writeError(e));
    } finally {
      setBusy(false);
    }
  }

  async function promote() {
    setPromoted({});
    try {
      const rec = await request<{ name: string; runs: number; versions: string[] }>("/baselines/named", undefined, {
        method: "POST",
        body: JSON.stringify({ name, run_ids: picked, replace, ...(note ? { note } : {}) }),
      });
      setPromoted({ ok: `@${rec.name} now holds ${int(rec.runs)} runs` });
      named.reload();
    } catch (e) {
      setPromoted({ error: writeError(e) });
    }
  }

  return (
    <section className="playground">
      <div className="page-head">
        <h1>Playground</h1>
        <span className="muted">
          {s.configured ? (
            <>
              {s.model} at {s.endpoint} · runs land in {s.otlp?.endpoint ?? "the OTLP endpoint of OTEL_EXPORTER_OTLP_ENDPOINT"} (environment <code>playground</code>)
            </>
          ) : null}
        </span>
      </div>
      {!s.configured && (
        <p className="error" role="alert">
          The playground cannot send: {s.reason}
        </p>
      )}
      {!s.writes && <p className="muted">Sending and promoting write data: start the API with <code>--auth-token</code> to turn them on.</p>}
      <form
        className="card playground-form"
        aria-label="Send a prompt"
        onSubmit={(e) => {
          e.preventDefault();
          void send();
        }}
      >
        <div className="filters">
          <label>
            Agent
            <input value={agent} onChange={(e) => setAgent(e.target.value)} list="pg-agents" required />
          </label>
          <datalist id="pg-agents">
            {agents.map((a) => (
              <option key={a} value={a} />
            ))}
          </datalist>
          <label>
            Version
            <input value={version} onChange={(e) => setVersion(e.target.value)} list="pg-versions" placeholder="e.g. v2.1-draft" required />
          </label>
          <datalist id="pg-versions">
            {known.map((v) => (
              <option key={v.version} value={v.version} />
            ))}
          </datalist>
        </div>
        <label className="block">
          System prompt
          <textarea rows={2} aria-label="System prompt" value={system ?? s.system ?? ""} onChange={(e) => setSystem(e.target.value)} />
        </label>
        <label className="block">
          Prompt
          <textarea rows={4} aria-label="Prompt" value={prompt} onChange={(e) => setPrompt(e.target.value)} required />
        </label>
        <div className="actions">
          <button type="submit" className="primary" disabled={busy || !s.configured || !prompt.trim() || !version.trim()}>
            {busy ? "Sending…" : `Send as ${agent} ${version || "…"}`}
          </button>
          {error && (
            <span role="alert" className="error">
              {error}
            </span>
          )}
        </div>
      </form>

      <section aria-label="Responses">
        <h2>Responses</h2>
        {!sent.length && <p className="muted">Nothing sent yet in this session.</p>}
        {sent.map((r) => (
          <article key={r.run_id} className={`card response${r.error ? " is-error" : ""}`} data-run={r.run_id}>
            <p className="muted">
              <label className="inline">
                <input
                  type="checkbox"
                  aria-label={`pick ${r.run_id}`}
                  checked={r.picked}
                  disabled={!r.landed}
                  onChange={(e) => setSent((all) => all.map((x) => (x.run_id === r.run_id ? { ...x, picked: e.target.checked } : x)))}
                />
                {r.agent} {r.version} · {r.model ?? "—"} · {ms(r.duration_ms)} · {int(r.input_tokens)} → {int(r.output_tokens)} tokens ·{" "}
                {r.landed ? (
                  <Link href={`/runs/${encodeURIComponent(r.run_id)}`}>run landed</Link>
                ) : (
                  <span role="status">landing…</span>
                )}
              </label>
            </p>
            <blockquote className="prompt">{r.prompt}</blockquote>
            {r.error ? <p className="error">{r.error}</p> : <blockquote className="answer">{r.output}</blockquote>}
          </article>
        ))}
        <label className="block">
          Other runs to promote (run ids, one per line; from the Runs page)
          <textarea rows={2} value={extra} onChange={(e) => setExtra(e.target.value)} aria-label="other run ids" />
        </label>
      </section>

      <section aria-label="Promote">
        <h2>Promote to a named baseline</h2>
        <div className="filters">
          <label>
            Name
            <input value={name} onChange={(e) => setName(e.target.value)} placeholder="golden" pattern="[A-Za-z0-9][A-Za-z0-9._\-]{0,63}" />
          </label>
          <label>
            Note
            <input value={note} onChange={(e) => setNote(e.target.value)} placeholder="why these runs" />
          </label>
          <label className="inline">
            <input type="checkbox" checked={replace} onChange={(e) => setReplace(e.target.checked)} /> replace its runs (default: add)
          </label>
          <button type="button" className="primary" disabled={!name || !picked.length} onClick={() => void promote()}>
            Promote {picked.length} run{picked.length === 1 ? "" : "s"}
          </button>
        </div>
        {promoted.ok && <p role="status">{promoted.ok}</p>}
        {promoted.error && (
          <p role="alert" className="error">
            {promoted.error}
          </p>
        )}
      </section>

      <section aria-label="Named baselines">
        <h2>Named baselines</h2>
        {named.data && !named.data.named.length && <p className="muted">None yet. A named baseline is exactly its promoted runs; compare any version against it.</p>}
        {named.data && named.data.named.length > 0 && (
          <table aria-label="named baselines">
            <thead>
              <tr>
                <th>Name</th>
                <th className="num">Runs</th>
                <th>Versions</th>
                <th>Promoted</th>
                <th>Note</th>
                <th>Compare</th>
              </tr>
            </thead>
            <tbody>
              {named.data.named.map((b) => (
                <tr key={b.id}>
                  <td>@{b.name}</td>
                  <td className="num">{int(b.runs ?? null)}</td>
                  <td>{(b.versions ?? []).join(", ") || "—"}</td>
                  <td>
                    {when(b.set_at ?? null)} by {b.set_by}
                  </td>
                  <td>{b.note ?? ""}</td>
                  <td>
                    <Compare name={b.name ?? ""} versions={known.map((v) => v.version)} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </section>
  );
}
