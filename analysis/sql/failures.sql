-- Failures by taxonomy: type (tool, model, retrieval, orchestration, other) × code, linked to the step.
CREATE OR REPLACE VIEW failures AS
SELECT trace_id, span_id, span_name, agent_name, agent_version, service_name, environment, time,
       kind AS failure_type, label AS code, coalesce(ref, span_id) AS step_span_id, hash AS message_hash
FROM agent_events WHERE name = 'failure';
