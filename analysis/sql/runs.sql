-- One row per agent run: an invoke_agent span and its subtree (a sub-agent belongs to the run of its
-- outermost agent), else, for a trace with no invoke_agent span, the whole trace when it calls a model, a
-- tool or a retriever.
-- Set-based: a recursive descent from every agent span, each span kept under its outermost agent.
CREATE OR REPLACE VIEW runs AS
WITH RECURSIVE
agents AS (
    SELECT trace_id, span_id FROM spans WHERE operation = 'invoke_agent'
),
descent(trace_id, run_span, span_id, depth) AS (
    SELECT trace_id, span_id, span_id, 0 FROM agents
    UNION ALL
    SELECT d.trace_id, d.run_span, s.span_id, d.depth + 1
    FROM descent d JOIN spans s ON s.trace_id = d.trace_id AND s.parent_span_id = d.span_id
),
membership AS (  -- the outermost agent above each span (largest distance)
    SELECT trace_id, span_id, arg_max(run_span, depth) AS run_span FROM descent GROUP BY trace_id, span_id
),
costed AS (  -- counted: a model call of llm_calls (a wrapper around another model call is not one)
    SELECT s.*, k.cost AS call_cost, k.cost_source AS call_cost_source, k.span_id IS NOT NULL AS counted
    FROM spans s LEFT JOIN llm_call_costs k USING (trace_id, span_id)
),
run_spans AS MATERIALIZED (  -- read by three CTEs below: computed once
    SELECT *,
           -- the span's role, computed once: the aggregates below filter on these booleans
           counted AND operation IN ('chat', 'text_completion') AS is_chat,
           counted AS is_model,
           operation = 'execute_tool' AS is_tool
    FROM (
        SELECT s.*, s.trace_id || ':' || m.run_span AS run_id, s.span_id = m.run_span AS is_root, true AS agent_run
        FROM costed s JOIN membership m USING (trace_id, span_id)
        UNION ALL
        SELECT s.*, s.trace_id AS run_id, s.parent_span_id IS NULL AS is_root, false AS agent_run
        FROM costed s WHERE s.trace_id NOT IN (SELECT trace_id FROM agents)
    )
),
ordered AS (  -- model and tool calls in order, to count LLM→tool rounds and retries
    -- (a retry compares a tool call with the previous call of the same tool: is_tool in the partition keeps
    -- nameless tool calls apart from model calls, which have no tool name either)
    SELECT run_id, operation, tool_name, tool_args_hash, status_code, start_time,
           lead(operation) OVER (PARTITION BY run_id ORDER BY start_time, span_id) AS next_operation,
           lag(tool_args_hash) OVER (PARTITION BY run_id, is_tool, tool_name ORDER BY start_time, span_id) AS prev_args,
           lag(status_code) OVER (PARTITION BY run_id, is_tool, tool_name ORDER BY start_time, span_id) AS prev_status,
           row_number() OVER (PARTITION BY run_id, is_tool, tool_name ORDER BY start_time, span_id) AS nth_call
    FROM run_spans
    WHERE is_chat OR is_tool
),
rounds AS (
    SELECT run_id,
           count(*) FILTER (WHERE operation <> 'execute_tool' AND next_operation = 'execute_tool') AS loop_count,
           count(*) FILTER (WHERE operation = 'execute_tool' AND nth_call > 1
                            AND (prev_args = tool_args_hash OR prev_status = 'ERROR')) AS retries
    FROM ordered GROUP BY run_id
),
semantics AS (  -- the run's agent-semantics events (instrumentation/semantics.py), in time order
    SELECT run_id,
           list(coalesce(e.kind, '?') || '=' || coalesce(e.label, '?') ORDER BY e.time)
               FILTER (WHERE e.name = 'decision') AS decisions,
           list(coalesce(e.label, '?') || '=' || coalesce(e.value::VARCHAR, '?') ORDER BY e.time)
               FILTER (WHERE e.name = 'signal') AS signals,
           list(coalesce(e.kind, '?') || '/' || coalesce(e.label, '?') ORDER BY e.time)
               FILTER (WHERE e.name = 'failure') AS failures,
           avg(e.confidence) FILTER (WHERE e.name = 'decision') AS decision_confidence,
           count(*) FILTER (WHERE e.name = 'memory.read') AS memory_reads,
           count(*) FILTER (WHERE e.name = 'memory.write') AS memory_writes
    FROM (SELECT run_id, unnest(agent_events) AS e FROM run_spans WHERE agent_events IS NOT NULL)
    GROUP BY run_id
),
steps AS (  -- time per span name below the run's root, to attribute a latency change to a step
    SELECT run_id, map_from_entries(list({'k': name, 'v': ms} ORDER BY name)) AS step_ms
    FROM (SELECT run_id, name, sum(duration_ms) AS ms FROM run_spans
          WHERE NOT is_root AND name IS NOT NULL GROUP BY run_id, name)
    GROUP BY run_id
),
aggregated AS (
SELECT
    r.run_id,
    any_value(r.trace_id) AS trace_id,
    bool_or(r.agent_run) AS agent_run,
    arg_max(r.agent_name, r.is_root::INT) FILTER (WHERE r.agent_name IS NOT NULL) AS agent,
    arg_max(r.agent_version, r.is_root::INT) FILTER (WHERE r.agent_version IS NOT NULL) AS version,
    any_value(r.environment) AS environment,
    any_value(r.service_name) AS service_name,
    min(r.start_time) AS start_time,
    date_diff('microsecond', min(r.start_time), max(coalesce(r.end_time, r.start_time))) / 1000.0 AS duration_ms,
    CASE WHEN bool_or(r.is_root AND r.status_code = 'ERROR') OR (NOT bool_or(r.agent_run) AND bool_or(r.status_code = 'ERROR'))
         THEN 'ERROR' ELSE 'OK' END AS status,
    arg_max(r.outcome, r.is_root::INT) FILTER (WHERE r.outcome IS NOT NULL) AS outcome,
    list_sort(list_distinct(list(r.error_type) FILTER (WHERE r.error_type IS NOT NULL))) AS error_types,
    count(*) FILTER (WHERE r.is_chat) AS llm_calls,
    count(*) FILTER (WHERE r.is_tool) AS tool_calls,
    coalesce(list(r.tool_name ORDER BY r.start_time, r.span_id) FILTER (WHERE r.is_tool), []) AS tool_sequence,
    date_diff('microsecond', min(r.start_time), min(r.start_time) FILTER (WHERE r.is_tool)) / 1000.0
        AS time_to_first_tool_ms,
    sum(r.input_tokens) FILTER (WHERE r.is_model) AS input_tokens,
    sum(r.output_tokens) FILTER (WHERE r.is_chat) AS output_tokens,
    sum(r.cache_read_tokens) FILTER (WHERE r.is_chat) AS cached_tokens,
    sum(r.call_cost) FILTER (WHERE r.call_cost_source = 'reported') AS cost_reported,  -- converted: one currency
    sum(r.call_cost) AS cost,
    coalesce(arg_max(r.output_chars, r.is_root::INT) FILTER (WHERE r.is_root AND r.output_chars IS NOT NULL),
             arg_max(r.output_chars, r.start_time) FILTER (WHERE r.is_chat)) AS output_chars,
    -- the run's answer, when content is stored (receiver --store-content): what the semantic dimension embeds
    coalesce(arg_max(r.output_content, r.is_root::INT) FILTER (WHERE r.is_root AND r.output_content IS NOT NULL),
             arg_max(r.output_content, r.start_time) FILTER (WHERE r.is_chat AND r.output_content IS NOT NULL))
        AS output_text,
    -- the run's question, when content is stored: its agent span's input, else its first model call's
    coalesce(arg_max(r.input_content, r.is_root::INT) FILTER (WHERE r.is_root AND r.input_content IS NOT NULL),
             arg_min(r.input_content, r.start_time) FILTER (WHERE r.is_chat AND r.input_content IS NOT NULL))
        AS input_text,
    -- the same answer's hash (always recorded): in embeddings-only mode the key of its vector
    coalesce(arg_max(r.output_hash, r.is_root::INT) FILTER (WHERE r.is_root AND r.output_hash IS NOT NULL),
             arg_max(r.output_hash, r.start_time) FILTER (WHERE r.is_chat AND r.output_hash IS NOT NULL))
        AS output_hash,
    list_sort(list_distinct(flatten(list(r.finish_reasons) FILTER (WHERE r.finish_reasons IS NOT NULL)))) AS finish_reasons,
    count(*) AS spans,
    -- the share of traces the app kept (NULL: not sampled); counts and totals weigh a run 1 / sample_rate
    max(r.sample_rate) AS sample_rate,
    -- time inside model calls, and the configuration the run used (the version's configuration fingerprint)
    sum(r.duration_ms) FILTER (WHERE r.is_chat) AS llm_time_ms,
    count(*) FILTER (WHERE r.call_cost_source = 'reported') AS calls_cost_reported,
    count(*) FILTER (WHERE r.call_cost_source = 'pricing') AS calls_cost_table,
    count(*) FILTER (WHERE r.is_model AND r.call_cost_source IS NULL)
        AS calls_unpriced,
    -- one list of each model call's configuration (one list aggregate is far cheaper than eight); the
    -- per-run lists below are taken from it
    list({'provider': r.provider, 'request_model': r.request_model, 'response_model': r.response_model,
          'temperature': r.temperature, 'max_tokens': r.max_tokens, 'prompt_hash': r.prompt_hash,
          'tools_offered': r.tools_offered, 'priced': r.call_cost_source IS NOT NULL})
        FILTER (WHERE r.is_model) AS _calls
FROM run_spans r
GROUP BY r.run_id
-- a trace with no agent span that calls no model, tool or retriever is not a run: nothing an agent does
-- happened there (AutoGen records an agent's construction, and its runtime each message it publishes, in
-- traces of their own)
HAVING bool_or(r.agent_run OR r.is_model OR r.is_tool OR r.operation = 'retrieval')
)
SELECT
    a.* EXCLUDE (_calls, finish_reasons, spans, llm_time_ms, calls_cost_reported, calls_cost_table, calls_unpriced),
    list_sort(list_distinct(list_transform(a._calls, lambda c: coalesce(c.response_model, c.request_model)))) AS models,
    a.finish_reasons, a.spans, a.llm_time_ms,
    list_sort(list_distinct(list_transform(a._calls, lambda c: c.provider))) AS providers,
    list_sort(list_distinct(list_transform(a._calls, lambda c: c.request_model))) AS request_models,
    list_sort(list_distinct(list_transform(a._calls, lambda c: c.response_model))) AS response_models,
    list_sort(list_distinct(list_transform(a._calls, lambda c: c.temperature))) AS temperatures,
    list_sort(list_distinct(list_transform(a._calls, lambda c: c.max_tokens))) AS max_tokens,
    list_sort(list_distinct(list_transform(a._calls, lambda c: c.prompt_hash))) AS prompt_hashes,
    coalesce(list_sort(list_distinct(flatten(list_transform(a._calls, lambda c: coalesce(c.tools_offered, []))))), [])
        AS tools_offered,
    a.calls_cost_reported, a.calls_cost_table, a.calls_unpriced,
    list_sort(list_distinct(list_transform(list_filter(a._calls, lambda c: NOT c.priced),
                                           lambda c: coalesce(c.response_model, c.request_model)))) AS unpriced_models,
    coalesce(x.loop_count, 0) AS loop_count, coalesce(x.retries, 0) AS retries, t.step_ms,
    -- decisions ("type=selected"), quality signals ("code=true|false"), failures ("type/code"), memory
    coalesce(m.decisions, []) AS decisions, coalesce(m.signals, []) AS signals,
    -- (memory counts are NULL for a run that records no agent-semantics event at all: not measured, not 0)
    coalesce(m.failures, []) AS failures, m.decision_confidence, m.memory_reads, m.memory_writes,
    -- the tool sequence as one value and as its steps (with start/end markers), for the diff
    CASE WHEN len(a.tool_sequence) = 0 THEN '(no tools)' ELSE array_to_string(a.tool_sequence, ' → ') END AS tool_path,
    list_transform(list_zip(list_prepend('(start)', a.tool_sequence), list_append(a.tool_sequence, '(end)')),
                   lambda p: struct_extract_at(p, 1) || ' → ' || struct_extract_at(p, 2)) AS tool_bigrams
FROM aggregated a LEFT JOIN rounds x USING (run_id) LEFT JOIN steps t USING (run_id)
     LEFT JOIN semantics m USING (run_id);
