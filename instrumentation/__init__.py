"""Driftline instrumentation: what runs inside the user\x27s application (see issue 4)."""
