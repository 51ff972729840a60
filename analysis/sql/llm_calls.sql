-- Calls to a model — chat, text completion, embeddings — each counted once: a model span that has
-- another model span below it (a framework's LLM span around the SDK call that an OpenAI or OpenInference
-- instrumentor records) is a wrapper, not a call, so only the innermost ("leaf") model span is a call.
-- Tokens, cost and call counts of every report come from this view, so a run costs the same whichever
-- combination of instrumentors is on (design.md: "tokens and cost counted once").
-- The walk goes up from each model span through spans that are neither model calls nor agents (an agent
-- never sits inside a model call), so it stops after one step for the common agent → chat shape.
CREATE OR REPLACE VIEW llm_calls AS
WITH RECURSIVE
model AS (
    SELECT * FROM spans WHERE operation IN ('chat', 'text_completion', 'embeddings')
),
up(trace_id, span_id) AS (
    SELECT trace_id, parent_span_id FROM model WHERE parent_span_id IS NOT NULL
    UNION
    SELECT s.trace_id, s.parent_span_id
    FROM up u JOIN spans s ON s.trace_id = u.trace_id AND s.span_id = u.span_id
    WHERE s.parent_span_id IS NOT NULL
      AND (s.operation IS NULL OR s.operation NOT IN ('chat', 'text_completion', 'embeddings', 'invoke_agent'))
)
SELECT m.* FROM model m
WHERE NOT EXISTS (SELECT 1 FROM up u WHERE u.trace_id = m.trace_id AND u.span_id = m.span_id);
