-- Calls to a model: chat, text completion, embeddings.
CREATE OR REPLACE VIEW llm_calls AS
SELECT * FROM spans WHERE operation IN ('chat', 'text_completion', 'embeddings');
