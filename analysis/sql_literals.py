"""SQL text for values that cannot be bound as parameters.

Why: DuckDB binds ``?`` in queries, ``CREATE TABLE AS`` and ``COPY … TO ?``, but not in a view's
definition — a view over a list of files, or a macro over a constant, must carry the values in its
text. This is the one place that quotes them; everything else binds.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime


def literal(value: object) -> str:
    """A SQL literal: a string (``O'Brien`` → ``'O''Brien'``), a number, a time (as TIMESTAMPTZ in
    UTC) or a list of these."""
    if isinstance(value, datetime):
        return f"TIMESTAMPTZ '{value.astimezone(UTC).isoformat()}'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return literal_list(value)
    return "'" + str(value).replace("'", "''") + "'"


def literal_list(values: Iterable[object]) -> str:
    """A SQL list literal: ``['a', 'b']``."""
    return "[" + ", ".join(literal(v) for v in values) + "]"


def identifier(name: str) -> str:
    """A quoted SQL identifier: a double quote inside the name is doubled."""
    return '"' + name.replace('"', '""') + '"'
