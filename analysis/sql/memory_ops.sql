-- Memory reads and writes: key, memory type, the value's hash (never the value), found / overwrite.
CREATE OR REPLACE VIEW memory_ops AS
SELECT trace_id, span_id, span_name, agent_name, agent_version, service_name, environment, time,
       CASE name WHEN 'memory.read' THEN 'read' ELSE 'write' END AS op, label AS key, kind AS memory_type,
       hash AS value_hash,
       CASE WHEN name = 'memory.read' THEN value END AS found,
       CASE WHEN name = 'memory.write' THEN value END AS overwrite
FROM agent_events WHERE name IN ('memory.read', 'memory.write');
