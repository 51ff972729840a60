-- Failures by taxonomy: type (tool, model, retrieval, orchestration, other) × code, linked to the step.
CREATE OR REPLACE VIEW failures AS
SELECT trace_id, span_id, span_name, agent_name, agent_version, service_name, environment, time,
       attributes->>'driftline.failure.type' AS failure_type,
       attributes->>'driftline.failure.code' AS code,
       coalesce(attributes->>'driftline.failure.step', span_id) AS step_span_id,
       attributes->>'driftline.failure.message.hash' AS message_hash
FROM agent_events WHERE event = 'driftline.failure';
