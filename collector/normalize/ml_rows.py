"""Stage 3 for ML events: inference and label records of one batch -> Arrow tables (one per model).

Why a table per model: each feature is a column (``FEATURE_PREFIX`` + name, see ``schema.py``), and
models do not share features, so one file per (model, hour) keeps every file's schema that model's
own and lets a query on one model skip the others' files by their statistics. A feature's column type
is decided per batch from the values it holds (all booleans -> bool, all numbers -> float64, else
string); readers reconcile files by name (``schema.unify``, DuckDB ``union_by_name``).
"""

from __future__ import annotations

import hashlib
from typing import Any

import pyarrow as pa

from driftline.collector.ml_events import MLEvent
from driftline.collector.schema import FEATURE_PREFIX, INFERENCE_SCHEMA, LABEL_SCHEMA, SEGMENT_PREFIX

HOUR_NS = 3_600_000_000_000


def model_slug(model: str) -> str:
    """A file-name-safe, stable tag of a model name (a replay must write the same file names)."""
    return hashlib.sha256(model.encode()).hexdigest()[:12]


def _split(value: Any) -> tuple[float | None, str | None]:
    """(number, class) views of a prediction or label: booleans are both 1/0 and "true"/"false"."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return float(value), "true" if value else "false"
    if isinstance(value, str):
        return None, value
    return float(value), None


def _column(values: list[Any]) -> pa.Array:
    kinds = {type(v) for v in values if v is not None}
    if kinds == {bool}:
        return pa.array(values, pa.bool_())
    if kinds and kinds <= {float, int}:
        return pa.array(values, pa.float64())
    if not kinds:
        return pa.nulls(len(values), pa.float64())
    if kinds == {str}:
        return pa.array(values, pa.string())
    return pa.array(_as_text(values), pa.string())


class _ModelRows:
    def __init__(self) -> None:
        self.rows: list[list[Any]] = []
        self.hours: list[int] = []
        self.features: dict[str, dict[int, Any]] = {}
        self.segments: dict[str, dict[int, Any]] = {}

    def table(self) -> pa.Table:
        columns = list(zip(*self.rows, strict=True))
        arrays = [pa.array(col, type=f.type) for col, f in zip(columns, INFERENCE_SCHEMA, strict=True)]
        names = list(INFERENCE_SCHEMA.names)
        n = len(self.rows)
        for prefix, store in ((FEATURE_PREFIX, self.features), (SEGMENT_PREFIX, self.segments)):
            for name in sorted(store):
                by_row = store[name]
                values = [None] * n
                for i, v in by_row.items():
                    values[i] = v
                arrays.append(_column(values) if prefix == FEATURE_PREFIX else _column(_as_text(values)))
                names.append(prefix + name)
        return pa.Table.from_arrays(arrays, names=names).replace_schema_metadata(INFERENCE_SCHEMA.metadata)


def _as_text(values: list[Any]) -> list[str | None]:
    return [
        v if v is None or isinstance(v, str) else ("true" if v is True else "false" if v is False else str(v))
        for v in values
    ]


class MLRows:
    """Inference rows per model and label rows of one batch."""

    def __init__(self) -> None:
        self.models: dict[str, _ModelRows] = {}
        self.labels: list[list[Any]] = []
        self.label_hours: list[int] = []

    def add(
        self,
        event: MLEvent,
        t: int,
        trace_id: str | None,
        span_id: str | None,
        resource: tuple[str | None, str | None, str | None],
        received_ns: int,
    ) -> None:
        svc, ver, env = resource
        number, klass = _split(event.value)
        if event.kind == "driftline.ml.label":
            self.labels.append(
                [t, event.request_id, event.model, number, klass, trace_id, span_id, svc, env, received_ns]
            )
            self.label_hours.append(t // HOUR_NS)
            return
        assert event.model is not None
        rows = self.models.get(event.model)
        if rows is None:
            rows = self.models[event.model] = _ModelRows()
        i = len(rows.rows)
        rows.rows.append(
            [
                t,
                event.model,
                event.version,
                event.request_id,
                number,
                klass,
                event.probabilities or None,
                event.latency_ms,
                event.nonfinite,
                trace_id,
                span_id,
                svc,
                ver,
                env,
                received_ns,
            ]
        )
        rows.hours.append(t // HOUR_NS)
        for name, value in event.features:
            rows.features.setdefault(name, {})[i] = value
        for name, value in event.segment:
            rows.segments.setdefault(name, {})[i] = value

    def inference_tables(self) -> list[tuple[str, pa.Table, list[int]]]:
        """(model slug, table, hour of each row) per model."""
        return [(model_slug(model), rows.table(), rows.hours) for model, rows in sorted(self.models.items())]

    def label_table(self) -> pa.Table:
        if not self.labels:
            return LABEL_SCHEMA.empty_table()
        columns = list(zip(*self.labels, strict=True))
        arrays = [pa.array(col, type=f.type) for col, f in zip(columns, LABEL_SCHEMA, strict=True)]
        return pa.Table.from_arrays(arrays, schema=LABEL_SCHEMA)
