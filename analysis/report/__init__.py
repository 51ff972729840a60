"""One drift-report structure (``model``) and separate renderers: terminal, Markdown, JSON, HTML."""
