-- Quality signals: observations (schema_valid, tool_success, latency_threshold…), never verdicts.
CREATE OR REPLACE VIEW signals AS
SELECT trace_id, span_id, span_name, agent_name, agent_version, service_name, environment, time,
       attributes->>'driftline.signal.type' AS signal_type,
       attributes->>'driftline.signal.code' AS code,
       TRY_CAST(attributes->>'driftline.signal.value' AS BOOLEAN) AS value,
       TRY_CAST(attributes->>'driftline.signal.weight' AS DOUBLE) AS weight
FROM agent_events WHERE event = 'driftline.signal';
