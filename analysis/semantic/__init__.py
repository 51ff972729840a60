"""Meaning: text embeddings, their cache next to the data, and the semantic drift dimension."""
