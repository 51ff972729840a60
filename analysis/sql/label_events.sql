-- Every label event, re-labels included (the history); exact resends removed (the first received;
-- same-instant copies by what they say: collector/schema.py COPY_RULES).
CREATE OR REPLACE VIEW label_events AS
SELECT * FROM {source}
QUALIFY row_number() OVER ({first_copy_window}) = 1;
