-- Memory reads and writes: key, memory type, the value's hash (never the value), found / overwrite.
CREATE OR REPLACE VIEW memory_ops AS
SELECT trace_id, span_id, span_name, agent_name, agent_version, service_name, environment, time,
       CASE event WHEN 'driftline.memory.read' THEN 'read' ELSE 'write' END AS op,
       attributes->>'driftline.memory.key' AS key,
       attributes->>'driftline.memory.type' AS memory_type,
       attributes->>'driftline.memory.value.hash' AS value_hash,
       TRY_CAST(attributes->>'driftline.memory.found' AS BOOLEAN) AS found,
       TRY_CAST(attributes->>'driftline.memory.overwrite' AS BOOLEAN) AS overwrite
FROM agent_events WHERE event IN ('driftline.memory.read', 'driftline.memory.write');
