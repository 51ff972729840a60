"""Driftline analysis: DuckDB views, fingerprints, drift reports and the `driftline` CLI root."""
