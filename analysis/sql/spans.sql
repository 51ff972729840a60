-- One row per span, whatever number of files or receivers wrote it: duplicates (client retries,
-- several receivers) are removed by (trace_id, span_id), keeping the first one received.
CREATE OR REPLACE VIEW spans AS
SELECT * FROM {source}
QUALIFY row_number() OVER (PARTITION BY trace_id, span_id ORDER BY received_at) = 1;
