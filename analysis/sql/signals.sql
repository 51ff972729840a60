-- Quality signals: observations (schema_valid, tool_success, latency_threshold…), never verdicts.
CREATE OR REPLACE VIEW signals AS
SELECT trace_id, span_id, span_name, agent_name, agent_version, service_name, environment, time,
       kind AS signal_type, label AS code, value, weight
FROM agent_events WHERE name = 'signal';
