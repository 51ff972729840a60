"""The analysis commands of the ``driftline`` CLI, one module per command family."""
