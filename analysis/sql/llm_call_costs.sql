-- The cost of every model call: provider-reported when the span carries it, else priced from the
-- `prices` table by the longest model prefix (within the call's provider when it names one).
CREATE OR REPLACE VIEW llm_call_costs AS
WITH candidates AS (
    SELECT c.trace_id, c.span_id, p.*,
           row_number() OVER (PARTITION BY c.trace_id, c.span_id ORDER BY length(p.model) DESC) AS best
    FROM llm_calls c
    JOIN prices p
      ON starts_with(lower(coalesce(c.response_model, c.request_model)), lower(p.model))
     AND (c.provider IS NULL OR lower(split_part(c.provider, '.', 1)) = p.provider)
)
SELECT
    c.trace_id, c.span_id,
    coalesce(c.response_model, c.request_model) AS model,
    CASE
        WHEN c.cost_reported IS NOT NULL THEN c.cost_reported
        WHEN p.model IS NULL THEN NULL
        ELSE (greatest(coalesce(c.input_tokens, 0) - coalesce(c.cache_read_tokens, 0)
                       - coalesce(c.cache_write_tokens, 0), 0) * p.input
              + coalesce(c.cache_read_tokens, 0) * p.cached_input
              + coalesce(c.cache_write_tokens, 0) * p.cache_write
              + coalesce(c.output_tokens, 0) * p.output) / 1e6
    END AS cost,
    CASE WHEN c.cost_reported IS NOT NULL THEN 'reported' WHEN p.model IS NOT NULL THEN 'pricing' END AS cost_source
FROM llm_calls c
LEFT JOIN candidates p ON p.trace_id = c.trace_id AND p.span_id = c.span_id AND p.best = 1;
