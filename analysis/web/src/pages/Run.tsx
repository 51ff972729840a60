// Run: the span waterfall of one run (agent → LLM → tool), and the selected span's details.
import { useEffect, useMemo, useState } from "react";
import { Link } from "wouter";
import { type AgentEvent, type RunDetail, type Span, useApi } from "../api";
import { ErrorLine, Loading } from "../components/Status";
import { int, ms, usd, when } from "../format";
import { useQueryState } from "../urlState";

/** Microseconds since the epoch from an ISO string: Date keeps only milliseconds, agent spans need more. */
function micros(iso: string): number {
  const m = /\.(\d+)/.exec(iso);
  const frac = m ? Number((m[1] + "000000").slice(0, 6)) : 0;
  return Math.floor(Date.parse(iso.replace(/\.\d+/, "")) / 1000) * 1_000_000 + frac;
}

interface Row {
  span: Span;
  depth: number;
  offset: number; // ms from the run's start
}

function layout(spans: Span[]): { rows: Row[]; total: number; t0: number } {
  if (!spans.length) return { rows: [], total: 0, t0: 0 };
  const ids = new Set(spans.map((s) => s.span_id));
  const children = new Map<string | null, Span[]>();
  for (const s of spans) {
    const parent = s.parent_span_id && ids.has(s.parent_span_id) ? s.parent_span_id : null;
    children.set(parent, [...(children.get(parent) ?? []), s]);
  }
  const t0 = Math.min(...spans.map((s) => micros(s.start_time)));
  const t1 = Math.max(...spans.map((s) => micros(s.end_time)));
  const rows: Row[] = [];
  const walk = (parent: string | null, depth: number) => {
    for (const s of (children.get(parent) ?? []).sort((a, b) => micros(a.start_time) - micros(b.start_time))) {
      rows.push({ span: s, depth, offset: (micros(s.start_time) - t0) / 1000 });
      walk(s.span_id, depth + 1);
    }
  };
  walk(null, 0);
  return { rows, total: Math.max((t1 - t0) / 1000, 0.001), t0 };
}

function kind(s: Span): string {
  if (s.status_code === "ERROR" || s.error_type) return "error";
  if (s.operation === "invoke_agent" || s.operation === "create_agent") return "agent";
  if (s.operation === "execute_tool") return "tool";
  if (s.request_model || s.response_model || ["chat", "text_completion", "generate_content", "embeddings"].includes(s.operation ?? "")) return "llm";
  return "other";
}

const EVENTS_KEY = "driftline.events"; // the span's OTel events, kept by the normalizer as JSON

function attributeObject(a: Span["attributes"]): Record<string, unknown> {
  if (!a) return {};
  return typeof a === "string" ? (JSON.parse(a) as Record<string, unknown>) : a;
}

function attributes(a: Span["attributes"]): [string, string][] {
  return Object.entries(attributeObject(a))
    .filter(([k]) => k !== EVENTS_KEY)
    .map(([k, v]): [string, string] => [k, typeof v === "string" ? v : JSON.stringify(v)])
    .sort(([a], [b]) => a.localeCompare(b));
}

interface SpanEvent {
  name: string;
  time_unix_nano?: number;
  attributes?: Record<string, string>;
}

/** The span's events (an exception with its type, message and stack trace), read, not shown as JSON. */
export function spanEvents(a: Span["attributes"]): SpanEvent[] {
  const raw = attributeObject(a)[EVENTS_KEY];
  if (typeof raw !== "string") return [];
  try {
    const parsed = JSON.parse(raw) as unknown;
    return Array.isArray(parsed) ? (parsed as SpanEvent[]).filter((e) => e && typeof e.name === "string") : [];
  } catch {
    return [];
  }
}

function EventItem({ e }: { e: SpanEvent }) {
  const attrs = e.attributes ?? {};
  if (e.name === "exception") {
    const stack = attrs["exception.stacktrace"];
    return (
      <li data-event="exception">
        <span className="error">
          {attrs["exception.type"] ?? "exception"}
          {attrs["exception.message"] ? `: ${attrs["exception.message"]}` : ""}
        </span>
        {stack && (
          <details>
            <summary className="muted">stack trace</summary>
            <pre className="stacktrace">{stack}</pre>
          </details>
        )}
      </li>
    );
  }
  const rest = Object.entries(attrs);
  return (
    <li data-event={e.name}>
      {e.name}
      {rest.length > 0 && <span className="muted"> · {rest.map(([k, v]) => `${k}=${v}`).join(", ")}</span>}
    </li>
  );
}

/** One agent-semantics event in words: descriptive, as the drift report puts it. */
export function describeEvent(e: AgentEvent): string {
  switch (e.name) {
    case "decision": {
      const among = e.candidates?.length ? ` among ${e.candidates.join(", ")}` : "";
      const why = e.reason ? `, because ${e.reason}` : "";
      const sure = e.confidence !== null ? ` (confidence ${e.confidence.toFixed(2)})` : "";
      return `${e.kind ?? "decision"}: chose ${e.label ?? "?"}${among}${why}${sure}`;
    }
    case "signal":
      return `${e.kind ?? "signal"} signal ${e.label ?? "?"} = ${e.value === null ? "?" : String(e.value)}`;
    case "failure":
      return `${e.kind ?? "?"} failure: ${e.label ?? "?"}${e.hash ? " (message hashed)" : ""}`;
    case "memory.read":
      return `memory read ${e.label ?? "?"}${e.kind ? ` (${e.kind})` : ""}: ${e.value ? "found" : "nothing found"}`;
    case "memory.write":
      return `memory write ${e.label ?? "?"}${e.kind ? ` (${e.kind})` : ""}${e.value ? ", overwriting" : ""}`;
    case "final_answer":
      return `final answer (${e.chars ?? "?"} characters)`;
    default:
      return e.name;
  }
}

function eventKind(e: AgentEvent): string {
  return e.name.split(".")[0];
}

function SpanDetails({ span }: { span: Span }) {
  const rows: [string, string][] = [
    ["operation", span.operation ?? "—"],
    ["duration", ms(span.duration_ms)],
    ["status", span.status_code ?? "—"],
    ...(span.error_type ? ([["error", span.error_type]] as [string, string][]) : []),
    ...(span.request_model ? ([["requested model", span.request_model]] as [string, string][]) : []),
    ...(span.response_model ? ([["served model", span.response_model]] as [string, string][]) : []),
    ...(span.input_tokens !== null || span.output_tokens !== null
      ? ([["tokens in / out", `${int(span.input_tokens)} / ${int(span.output_tokens)}`]] as [string, string][])
      : []),
    ...(span.cost !== null ? ([["cost", `${usd(span.cost)} (${span.cost_source})`]] as [string, string][]) : []),
    ...(span.tool_name ? ([["tool", span.tool_name]] as [string, string][]) : []),
    ["started", when(span.start_time)],
    ["span id", span.span_id],
  ];
  return (
    <aside className="span-details" aria-label="Span details">
      <h2>{span.name}</h2>
      <dl>
        {rows.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd className={k === "error" ? "error" : ""}>{v}</dd>
          </div>
        ))}
      </dl>
      {span.agent_events?.length ? (
        <>
          <h3>Decisions, signals, failures, memory</h3>
          <ul className="agent-events" aria-label="Agent events">
            {span.agent_events.map((e, i) => (
              <li key={i} data-event={e.name} className={`agent-event ev-${eventKind(e)}`}>
                <span className={`ev-mark ev-${eventKind(e)}`} aria-hidden="true" /> {describeEvent(e)}
              </li>
            ))}
          </ul>
        </>
      ) : null}
      {spanEvents(span.attributes).length > 0 && (
        <>
          <h3>Events</h3>
          <ul className="span-events" aria-label="Span events">
            {spanEvents(span.attributes).map((e, i) => (
              <EventItem key={i} e={e} />
            ))}
          </ul>
        </>
      )}
      <h3>Attributes</h3>
      {attributes(span.attributes).length ? (
        <dl className="attrs">
          {attributes(span.attributes).map(([k, v]) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd>{v}</dd>
            </div>
          ))}
        </dl>
      ) : (
        <p className="muted">None beyond the columns above.</p>
      )}
      <h3>Content</h3>
      {span.input_content || span.output_content ? (
        <>
          {span.input_content && <pre className="content">{span.input_content}</pre>}
          {span.output_content && <pre className="content">{span.output_content}</pre>}
        </>
      ) : (
        <p className="muted">Not stored (the receiver keeps prompts and completions only with --store-content).</p>
      )}
    </aside>
  );
}

export function RunPage({ id }: { id: string }) {
  const detail = useApi<RunDetail>(`/runs/${encodeURIComponent(id)}`);
  const [params, set] = useQueryState();
  const { rows, total, t0 } = useMemo(() => layout(detail.data?.spans ?? []), [detail.data]);
  const selectedId = params.get("span") ?? rows[0]?.span.span_id;
  const selected = rows.find((r) => r.span.span_id === selectedId)?.span ?? rows[0]?.span;
  const [focusIndex, setFocusIndex] = useState(-1);
  useEffect(() => {
    if (focusIndex >= 0) document.querySelector<HTMLButtonElement>(`[data-row="${focusIndex}"]`)?.focus();
  }, [focusIndex]);

  if (detail.error) return <ErrorLine error={detail.error} />;
  if (!detail.data) return <Loading what="the run" />;
  const r = detail.data.run;
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const onKey = (i: number) => (e: React.KeyboardEvent) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const next = Math.max(0, Math.min(rows.length - 1, i + (e.key === "ArrowDown" ? 1 : -1)));
      setFocusIndex(next);
      set({ span: rows[next].span.span_id });
    }
  };
  return (
    <section>
      <p className="crumbs">
        <Link href="/runs">Runs</Link> / <span className="mono">{r.trace_id}</span>
      </p>
      <div className="page-head">
        <h1>
          {r.agent ?? "run"} {r.version && <span className="muted">{r.version}</span>}
        </h1>
        {r.status === "ERROR" && <span className="badge badge-error">ERROR</span>}
      </div>
      <ul className="facts">
        <li>
          <b>{ms(r.duration_ms)}</b> duration
        </li>
        <li>
          <b>{r.llm_calls}</b> LLM calls
        </li>
        <li>
          <b>{r.tool_calls}</b> tool calls
        </li>
        <li>
          <b>
            {int(r.input_tokens)} / {int(r.output_tokens)}
          </b>{" "}
          tokens in / out
        </li>
        <li>
          <b>{usd(r.cost)}</b> cost
        </li>
        <li>
          outcome <b>{r.outcome ?? "—"}</b>
        </li>
        {Array.isArray(r.decisions) && r.decisions.length > 0 && (
          <li>
            <b>{(r.decisions as string[]).length}</b> decisions
          </li>
        )}
        {Array.isArray(r.failures) && r.failures.length > 0 && (
          <li>
            <b>{(r.failures as string[]).length}</b> failures
          </li>
        )}
        <li>{when(r.start_time)}</li>
      </ul>
      <div className="run-layout">
        <div className="waterfall" role="tree" aria-label="Span timeline">
          <div className="wf-axis" aria-hidden="true">
            <span className="wf-name" />
            <span className="wf-track">
              {ticks.map((t) => (
                <span key={t} className="wf-tick" style={{ left: `${t * 100}%`, transform: `translateX(${t === 0 ? 0 : t === 1 ? -100 : -50}%)` }}>
                  {ms(total * t)}
                </span>
              ))}
            </span>
          </div>
          {rows.map((row, i) => {
            const k = kind(row.span);
            const left = (row.offset / total) * 100;
            const width = Math.max((row.span.duration_ms / total) * 100, 0.4);
            return (
              <button
                type="button"
                role="treeitem"
                aria-level={row.depth + 1}
                aria-selected={row.span === selected}
                key={row.span.span_id}
                data-row={i}
                data-span-kind={k}
                className={`wf-row ${row.span === selected ? "selected" : ""}`}
                onClick={() => set({ span: row.span.span_id })}
                onKeyDown={onKey(i)}
              >
                <span className="wf-name" style={{ paddingLeft: `${row.depth * 14 + 4}px` }}>
                  <span className={`dot dot-${k}`} />
                  {row.span.name}
                </span>
                <span className="wf-track">
                  <span className={`wf-bar wf-${k}`} style={{ left: `${left}%`, width: `${Math.min(width, 100 - left)}%` }} />
                  {/* decisions, signals, failures, memory: a mark where each happened */}
                  {(row.span.agent_events ?? []).map((e, j) => (
                    <span
                      key={j}
                      className={`wf-event ev-${eventKind(e)}`}
                      data-event={e.name}
                      title={describeEvent(e)}
                      style={{ left: `${Math.min(Math.max(((micros(e.time) - t0) / 1000 / total) * 100, 0), 100)}%` }}
                    />
                  ))}
                  {/* the duration sits after the bar, or before it when the bar reaches the right edge */}
                  <span className="wf-label" style={left + width > 85 ? { right: `${100 - left}%`, paddingRight: 4 } : { left: `${left + width}%`, paddingLeft: 4 }}>
                    {ms(row.span.duration_ms)}
                  </span>
                </span>
              </button>
            );
          })}
          <p className="legend muted">
            <span className="dot dot-agent" /> agent <span className="dot dot-llm" /> LLM call <span className="dot dot-tool" /> tool{" "}
            <span className="dot dot-error" /> error · <span className="ev-mark ev-decision" /> decision{" "}
            <span className="ev-mark ev-signal" /> signal <span className="ev-mark ev-failure" /> failure{" "}
            <span className="ev-mark ev-memory" /> memory · ↑/↓ to move
          </p>
        </div>
        {selected && <SpanDetails span={selected} />}
      </div>
    </section>
  );
}
