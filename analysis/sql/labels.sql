-- The current label of each request id (and model, when the label named one): the latest by event
-- time, then by arrival. A label without a model applies to every model that scored the request id.
CREATE OR REPLACE VIEW labels AS
SELECT * FROM label_events
QUALIFY row_number() OVER (PARTITION BY request_id, model ORDER BY time DESC, received_at DESC) = 1;
