-- Every agent-semantics event (instrumentation/semantics.py: decisions, signals, failures, memory
-- operations, final answers), one row each, with its span's trace, span, agent and version. The receiver
-- keeps them typed in the spans' agent_events column (schema 1.2; older files have none).
CREATE OR REPLACE VIEW agent_events AS
SELECT s.trace_id, s.span_id, s.name AS span_name, s.operation, s.agent_name, s.agent_version,
       s.service_name, s.environment, e.*
FROM (SELECT * FROM spans WHERE agent_events IS NOT NULL) s, unnest(s.agent_events) AS t(e);
