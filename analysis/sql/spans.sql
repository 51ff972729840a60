-- One row per span, whatever number of files or receivers wrote it: duplicates (client retries,
-- several receivers) are removed by (trace_id, span_id), keeping the copy collector/schema.py's rule
-- keeps (the first received; same-instant copies ordered by their content, not by file).
CREATE OR REPLACE VIEW spans AS
SELECT * FROM {source}
QUALIFY row_number() OVER ({first_copy_window}) = 1;
