-- Decision points: which option was selected, among which candidates, why, how confidently.
CREATE OR REPLACE VIEW decisions AS
SELECT trace_id, span_id, span_name, agent_name, agent_version, service_name, environment, time,
       attributes->>'driftline.decision.type' AS decision_type,
       attributes->>'driftline.decision.selected' AS selected,
       from_json(attributes->'driftline.decision.candidates', '["VARCHAR"]') AS candidates,
       attributes->>'driftline.decision.reason' AS reason,
       TRY_CAST(attributes->>'driftline.decision.confidence' AS DOUBLE) AS confidence
FROM agent_events WHERE event = 'driftline.decision';
