-- Decision points: which option was selected, among which candidates, why, how confidently.
CREATE OR REPLACE VIEW decisions AS
SELECT trace_id, span_id, span_name, agent_name, agent_version, service_name, environment, time,
       kind AS decision_type, label AS selected, candidates, reason, confidence
FROM agent_events WHERE name = 'decision';
