"""``driftline explore``: an interactive terminal UI over runs (Textual)."""
