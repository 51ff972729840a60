"""Driftline collector: OTLP receivers, write-ahead log, normalization, Parquet sink."""
