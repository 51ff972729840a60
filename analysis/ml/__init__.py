"""Classical ML models: what the Models page, `driftline models` and the README show."""
