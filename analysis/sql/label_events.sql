-- Every label event, re-labels included (the history); exact resends removed.
CREATE OR REPLACE VIEW label_events AS
SELECT * FROM {source}
QUALIFY row_number() OVER (PARTITION BY request_id, model, time ORDER BY received_at) = 1;
