"""Sentence embeddings of answers: the model, the text of an answer, the vector store, and the
embeddings-only mode's spool and embedding process.

Why in the collector: in embeddings-only mode the receiver embeds answers behind its WAL and keeps the
vectors, never the text; the diff embeds stored answers with the same model into the same store. The
analysis layer imports this package (and the schema) of the collector, nothing else of it.
"""
