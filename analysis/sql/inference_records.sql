-- Every inference row as written, exact resends included (``inferences`` removes them). The model diff
-- reads from here when a model has no resends: the same rows, without a window over every column.
CREATE OR REPLACE VIEW inference_records AS
SELECT * FROM {source};
