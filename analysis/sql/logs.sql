-- GenAI events and late labels, as received.
CREATE OR REPLACE VIEW logs AS
SELECT * FROM {source};
