-- Spans that share a (trace_id, span_id) with a different span: the spans view keeps only the first
-- one received, so the others are hidden from every run, diff and report. A client retry resends the
-- same span (same {conflict_key}) and is not listed. Ids repeat when an app seeds Python's global
-- `random` (the SDK draws span ids from it): see the README, "Span ids that repeat".
CREATE OR REPLACE VIEW span_id_conflicts AS
SELECT
    trace_id,
    span_id,
    count(*) AS copies,
    count(DISTINCT row{conflict_key}) AS different_spans,
    list(DISTINCT name ORDER BY name) AS names,
    min(service_name) AS service_name,
    min(start_time) AS first_start,
    max(start_time) AS last_start
FROM {source}
GROUP BY trace_id, span_id
HAVING count(DISTINCT row{conflict_key}) > 1;
