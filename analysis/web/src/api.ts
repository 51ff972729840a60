// Typed access to /api/v1. The console computes nothing itself: every number on a page is a field of
// one of these documents, so the console, the CLI and scripts never disagree.
import { useCallback, useEffect, useRef, useState } from "react";

export const API = "/api/v1";
const TOKEN_KEY = "driftline.token";

export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
  ) {
    super(message);
  }
}

export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value: string | null): void {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
  window.dispatchEvent(new Event("driftline-token"));
}

export type Params = Record<string, string | number | undefined | null>;

export function query(params: Params = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

function message(detail: unknown): string {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail))
    return detail
      .map((d: { loc?: unknown[]; msg?: string }) => `${(d.loc ?? []).slice(1).join(".")}: ${d.msg ?? ""}`)
      .join("; ");
  return JSON.stringify(detail);
}

export async function request<T>(path: string, params?: Params, init?: RequestInit): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  if (init?.body) headers["Content-Type"] = "application/json";
  const res = await fetch(`${API}${path}${query(params)}`, { ...init, headers });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, message(body?.error ?? body?.detail ?? res.statusText));
  return body as T;
}

export interface Loaded<T> {
  data: T | null;
  error: ApiError | Error | null;
  loading: boolean;
  reload: () => void;
}

/** Fetch a document and keep it fresh: `pollMs` re-fetches in the background (live pages). */
export function useApi<T>(path: string | null, params: Params = {}, pollMs = 0): Loaded<T> {
  const key = path === null ? null : path + query(params);
  const [state, setState] = useState<{ key: string | null; data: T | null; error: Error | null; loading: boolean }>({
    key: null,
    data: null,
    error: null,
    loading: key !== null,
  });
  const [tick, setTick] = useState(0);
  const generation = useRef(0);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  useEffect(() => {
    const onToken = () => reload();
    window.addEventListener("driftline-token", onToken);
    return () => window.removeEventListener("driftline-token", onToken);
  }, [reload]);
  useEffect(() => {
    if (key === null || path === null) return;
    const mine = ++generation.current;
    setState((s) => ({ ...s, loading: true, ...(s.key !== key ? { data: null, error: null } : {}) }));
    request<T>(path, params)
      .then((data) => mine === generation.current && setState({ key, data, error: null, loading: false }))
      .catch((error: Error) => mine === generation.current && setState((s) => ({ ...s, key, error, loading: false })));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, tick]);
  useEffect(() => {
    if (!pollMs || key === null) return;
    const id = window.setInterval(() => {
      if (document.visibilityState === "visible") reload();
    }, pollMs);
    return () => window.clearInterval(id);
  }, [pollMs, key, reload]);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

// ---- documents ----------------------------------------------------------------------------------

export interface Health {
  status: string;
  data: string;
  spans: number;
  runs: number;
  receiver: { otlp_grpc: string | null; otlp_http: string | null; metrics: string | null } | null;
  auth: boolean;
}

export interface RunRow {
  run_id: string;
  trace_id: string;
  agent: string | null;
  version: string | null;
  environment: string | null;
  start_time: string;
  duration_ms: number;
  status: "OK" | "ERROR" | string;
  outcome: string | null;
  llm_calls: number;
  tool_calls: number;
  input_tokens: number | null;
  output_tokens: number | null;
  cost: number | null;
  models: string[] | null;
  tool_sequence: string[] | null;
  slow: boolean;
}

export interface RunsPage {
  runs: RunRow[];
  next_cursor: string | null;
  slow_definition: string;
}

export interface Span {
  span_id: string;
  parent_span_id: string | null;
  name: string;
  operation: string | null;
  start_time: string;
  end_time: string;
  duration_ms: number;
  status_code: string | null;
  error_type: string | null;
  request_model: string | null;
  response_model: string | null;
  input_tokens: number | null;
  output_tokens: number | null;
  tool_name: string | null;
  cost: number | null;
  cost_source: string | null;
  attributes: Record<string, unknown> | string | null;
  input_content: string | null;
  output_content: string | null;
  agent_events: AgentEvent[] | null;
}

/** A decision, quality signal, failure, memory operation or final answer a span recorded. */
export interface AgentEvent {
  name: "decision" | "signal" | "failure" | "memory.read" | "memory.write" | "final_answer" | string;
  time: string;
  kind: string | null;
  label: string | null;
  candidates: string[] | null;
  reason: string | null;
  confidence: number | null;
  value: boolean | null;
  weight: number | null;
  ref: string | null;
  hash: string | null;
  chars: number | null;
}

export interface RunDetail {
  run: RunRow & Record<string, unknown>;
  spans: Span[];
}

export interface VersionRow {
  version: string;
  runs: number;
  first_seen: string;
  last_seen: string;
  errors: number;
  agents: string[];
  environments: string[];
  error_rate: number | null;
  p50_ms: number | null;
  p95_ms: number | null;
  mean_cost: number | null;
  mean_input_tokens: number | null;
  top_outcome: string | null;
}

export interface Distribution {
  rates?: Record<string, number>;
  mean?: number;
  quantiles?: Record<string, number>;
  histogram?: { edges: number[]; baseline: number[]; candidate: number[] };
}

export interface Dimension {
  name: string;
  title: string;
  kind: "category" | "labels" | "numeric" | string;
  unit: string;
  weight: number;
  n_baseline: number;
  n_candidate: number;
  test: string;
  p_value: number;
  p_adjusted: number;
  effect_name: string;
  effect: number | null;
  ci_low: number | null;
  ci_high: number | null;
  focus: string | null;
  echo_of?: string | null; // moved on the same runs as this dimension (reported under it)
  baseline_value: number | null;
  candidate_value: number | null;
  distance: number;
  score: number;
  status: string;
  severity: string | null;
  segment: string | null;
  baseline_distribution: Distribution;
  candidate_distribution: Distribution;
}

export interface Side {
  label: string;
  runs: number;
  start: string | null;
  end: string | null;
  versions: string[];
  agents: string[];
  environments: string[];
  unit?: string; // "runs" of an agent or "inferences" of a model
  sample_rates?: number[] | null; // sampled data: the rates its runs were kept at
  runs_estimated?: number | null; // the runs they stand for (sum of 1 / rate)
}

export interface PerformanceMetric {
  name: string;
  title: string;
  value: number | null;
  ci_low: number | null;
  ci_high: number | null;
  baseline: number | null;
  difference: number | null;
  diff_low: number | null;
  diff_high: number | null;
  p_adjusted: number | null;
  status: string; // worse | better | negligible | unchanged | provisional | insufficient | baseline
  estimated: number | null;
  est_low: number | null;
  est_high: number | null;
  estimation_error?: number | null;
}

export interface PerformanceWindow {
  label: string;
  start: string | null;
  end: string | null;
  inferences: number;
  labelled: number;
  coverage: number;
  delay_median_s: number | null;
  provisional: boolean;
  metrics: PerformanceMetric[];
}

export interface Performance {
  task: string;
  positive: string | null;
  window: string;
  coverage_threshold: number;
  baseline: PerformanceWindow;
  windows: PerformanceWindow[];
  warnings: string[];
  estimation: string | null;
  segments?: PerformanceWindow[];
}

export interface Report {
  kind: string;
  generated_at: string;
  baseline: Side;
  candidate: Side;
  verdict: {
    verdict: "stable" | "review" | "block" | "insufficient" | string;
    score: number;
    score_low: number;
    score_high: number;
    reasons: string[];
    next_steps: string[];
    runs_needed: Record<string, number>;
  };
  dimensions: Dimension[];
  hypotheses: { rule: string; text: string; evidence: number; dimension: string | null; cites: string[] }[];
  configuration_changes: { key: string; kind: string; baseline: string[]; candidate: string[]; note: string }[];
  cost: {
    currency: string;
    baseline_mean: number | null;
    candidate_mean: number | null;
    delta_per_10k_runs: number | null;
    unpriced_models: string[];
    pricing_version: string;
  } | null;
  performance?: Performance | null;
  semantic?: SemanticSummary | null;
  explanation?: Explanation | null;
}

export interface Theme {
  theme: number;
  terms: string[];
  examples: string[];
  share_baseline: number;
  share_candidate: number;
  ci_low: number;
  ci_high: number;
  change: "grew" | "shrank" | "steady" | string;
  baseline_answers: string[];
  candidate_answers: string[];
}

export interface SemanticSummary {
  model: string;
  texts_baseline: number;
  texts_candidate: number;
  themes: Theme[];
  novel: { text: string; similarity: number; theme: number }[];
}

export interface Explanation {
  source: "llm" | "rules" | string;
  summary: string;
  severity: "low" | "medium" | "high" | string;
  causes: { cause: string; evidence: string[] }[];
  next_steps: string[];
  model: string | null;
  fallback_reason: string | null;
}

export interface SemanticPoint {
  effect?: number;
  ci_low?: number;
  ci_high?: number;
  p_adjusted?: number;
  status?: string;
  themes?: { terms: string[]; share_baseline: number; share_candidate: number; change: string }[];
}

export interface HistoryRow {
  report: string;
  slot: string;
  run_at: string;
  verdict: string;
  score: number;
  score_low: number;
  score_high: number;
  baseline: string;
  candidate: string;
  baseline_runs: number;
  candidate_runs: number;
  hypotheses: string[];
  persistence: string;
  deploy: string;
  semantic?: SemanticPoint;
  explanation?: { source?: string; severity?: string; summary?: string; fallback_reason?: string | null };
}

export interface CostSeries {
  by: string;
  bucket: string;
  points: { t: string; key: string | null; cost: number | null; calls: number }[];
  total: number;
  unpriced_models: string[];
  budget: number | null;
}

export interface Ingest {
  configured: boolean;
  reachable: boolean;
  source: string | null;
  error: string | null;
  health: Record<string, unknown> | null;
  metrics: {
    received: Record<string, number>;
    accepted: Record<string, number>;
    written: Record<string, number>;
    rejected: { signal: string; reason: string; count: number }[];
    requests: { protocol: string; signal: string; outcome: string; count: number }[];
    queue_depth: number | null;
    wal_bytes: number | null;
    segment_failures: number;
    export_p50_s: number | null;
    export_p99_s: number | null;
  } | null;
}

export interface Stats {
  hours: number;
  spans_per_hour: { hour: string; spans: number }[];
  runs_per_hour: { hour: string; runs: number; errors: number }[];
  ingest_spans_per_s: number;
  rejected: number | null;
}

// ---- playground and named baselines ---------------------------------------------------------------

export interface PlaygroundState {
  configured: boolean;
  reason: string | null;
  endpoint: string | null;
  model: string | null;
  system: string | null;
  otlp: { endpoint: string | null; protocol: string | null } | null;
  writes: boolean;
}

export interface PlaygroundRun {
  run_id: string;
  trace_id: string;
  agent: string;
  version: string;
  environment: string;
  model: string | null;
  prompt: string;
  output: string | null;
  input_tokens: number | null;
  output_tokens: number | null;
  duration_ms: number;
  error: string | null;
}

export interface BaselineRecord {
  id: string;
  name?: string | null;
  version: string | null;
  versions?: string[];
  agent: string | null;
  env: string | null;
  runs?: number;
  set_at?: string;
  set_by?: string;
  note?: string | null;
  cleared?: boolean;
}

export interface Baselines {
  baselines: BaselineRecord[];
  named: BaselineRecord[];
}
