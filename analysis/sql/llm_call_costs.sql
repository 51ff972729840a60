-- The cost of every model call: provider-reported when the span carries it, else priced from the
-- `prices` table when the call's model is a table model, up to a snapshot suffix (`price_matches`, defined
-- with the rule in analysis/cost.py), within the call's provider (or one hosting it) when it names one.
-- Prices are matched once per distinct (provider, model) pair — a handful — and joined back by
-- equality, so pricing a million calls is a hash join, not a million prefix comparisons.
CREATE OR REPLACE VIEW llm_call_costs AS
WITH used AS (
    SELECT DISTINCT lower(split_part(provider, '.', 1)) AS provider_key, coalesce(response_model, request_model) AS model
    FROM llm_calls
),
matched AS (
    SELECT u.provider_key, u.model, p.input, p.cached_input, p.cache_write, p.output, p.model AS price_model
    FROM used u
    JOIN prices p
      ON price_matches(u.model, p.model)
     AND (u.provider_key IS NULL
          OR EXISTS (SELECT 1 FROM price_provider_aliases a WHERE a.alias = u.provider_key AND a.provider = p.provider))
    QUALIFY row_number() OVER (PARTITION BY u.provider_key, u.model ORDER BY length(p.model) DESC) = 1
)
SELECT
    c.trace_id, c.span_id,
    -- what cost reports group and filter by, under names no span column has (so joins stay unambiguous)
    c.start_time AS call_start_time, c.agent_name AS call_agent, c.agent_version AS call_agent_version,
    c.service_version AS call_service_version, c.environment AS call_environment,
    c.input_tokens AS call_input_tokens, c.output_tokens AS call_output_tokens, c.sample_rate AS call_sample_rate,
    coalesce(c.response_model, c.request_model) AS model,
    CASE
        WHEN c.cost_reported IS NOT NULL AND fx.rate IS NOT NULL THEN c.cost_reported * fx.rate
        WHEN p.price_model IS NULL THEN NULL
        ELSE (uncached_input(c.input_tokens, c.cache_read_tokens, c.cache_write_tokens, c.convention) * p.input
              + coalesce(c.cache_read_tokens, 0) * p.cached_input
              + coalesce(c.cache_write_tokens, 0) * p.cache_write
              + coalesce(c.output_tokens, 0) * p.output) / 1e6
    END AS cost,
    CASE WHEN c.cost_reported IS NOT NULL AND fx.rate IS NOT NULL THEN 'reported'
         WHEN p.price_model IS NOT NULL THEN 'pricing' END AS cost_source
FROM llm_calls c
-- a reported cost in the table's currency, or one the pricing file gives a rate for; else not used
LEFT JOIN currency_rates fx ON fx.currency = cost_currency_of(c.cost_currency)
LEFT JOIN matched p
  ON p.provider_key IS NOT DISTINCT FROM lower(split_part(c.provider, '.', 1))
 AND p.model IS NOT DISTINCT FROM coalesce(c.response_model, c.request_model);
