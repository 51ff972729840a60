-- Every span event recorded by the agent-semantics API (instrumentation/semantics.py) and the handlers that
-- fill it: one row per event, with its span's trace, span, agent and version. The normalizer keeps a span's
-- events as JSON under attributes['driftline.events'] (a truncated, invalid document is skipped, not fatal).
CREATE OR REPLACE VIEW agent_events AS
SELECT s.trace_id, s.span_id, s.name AS span_name, s.operation, s.agent_name, s.agent_version,
       s.service_name, s.environment,
       make_timestamp_ns(e.time_unix_nano::BIGINT) AT TIME ZONE 'UTC' AS time, e.name AS event, e.attributes
FROM (
    SELECT *, attributes['driftline.events'] AS events_json FROM spans
    WHERE attributes['driftline.events'] LIKE '%"driftline.%'
) s,
unnest(from_json(CASE WHEN json_valid(s.events_json) THEN s.events_json END,
                 '[{"name": "VARCHAR", "time_unix_nano": "UBIGINT", "attributes": "JSON"}]')) AS t(e)
WHERE e.name LIKE 'driftline.%';
