-- One row per inference, whatever number of files or receivers wrote it: an exact resend (a client
-- retry after a lost acknowledgement) is removed by (model, request_id, time), keeping the first
-- received (same-instant copies by what they say: collector/schema.py COPY_RULES). Each feature is a column "feature.<name>" and each segment key "segment.<key>" (the union
-- over every file: a feature a file does not have is null there).
CREATE OR REPLACE VIEW inferences AS
SELECT * FROM inference_records
QUALIFY row_number() OVER ({first_copy_window}) = 1;
