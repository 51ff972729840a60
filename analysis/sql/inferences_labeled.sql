-- Every inference with its latest label (null until one arrives) and the label's delay in seconds
-- (label time minus inference time). A label naming the model wins over one that names none.
CREATE OR REPLACE VIEW inferences_labeled AS
SELECT i.*,
       l.label,
       l.label_class,
       l.time AS label_time,
       date_diff('millisecond', i.time, l.time) / 1000.0 AS label_delay_s
FROM inferences i
LEFT JOIN labels l ON l.request_id = i.request_id AND (l.model IS NULL OR l.model = i.model)
QUALIFY row_number() OVER (
    PARTITION BY i.model, i.request_id, i.time
    ORDER BY (l.model IS NULL), l.time DESC NULLS LAST, l.received_at DESC NULLS LAST
) = 1;
