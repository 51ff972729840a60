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
from driftline.instrumentation.ml.convention import LABEL_EVENT

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


# kind bits of a column's values, as the compiled reader counts them (native/logscan.c)
_BOOL, _NUMBER, _TEXT, _REPLACED = 1, 2, 4, 8


def _kind_bits(values: list[Any]) -> int:
    bits = 0
    for v in values:
        if v is not None:
            bits |= _BOOL if type(v) is bool else _TEXT if type(v) is str else _NUMBER
    return bits


def _column(values: list[Any], bits: int | None = None) -> pa.Array:
    """A feature column: all booleans -> bool, all numbers -> float64, all strings (or a mix) -> string.
    ``bits`` are the kinds already counted while the values were gathered (recounted when a value was
    replaced)."""
    if bits is None or bits & _REPLACED:
        bits = _kind_bits(values)
    if bits == _BOOL:
        return pa.array(values, pa.bool_())
    if bits == _NUMBER:
        return pa.array(values, pa.float64())
    if not bits:
        return pa.nulls(len(values), pa.float64())
    if bits == _TEXT:
        return pa.array(values, pa.string())
    return pa.array(_as_text(values), pa.string())


Named = tuple[str, list[Any], int | None]  # (feature or segment key, a value per row, kind bits or None)


def inference_table(columns: list[list[Any]], features: list[Named], segments: list[Named]) -> pa.Table:
    """One model's inference rows: the fixed columns in INFERENCE_SCHEMA order, then a column per
    feature and per segment key, sorted by name. Segment values are already text (``_as_text``)."""
    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, INFERENCE_SCHEMA, strict=True)]
    names = list(INFERENCE_SCHEMA.names)
    for prefix, named in ((FEATURE_PREFIX, features), (SEGMENT_PREFIX, segments)):
        for name, values, bits in sorted(named, key=lambda n: n[0]):
            arrays.append(_column(values, bits))
            names.append(prefix + name)
    return pa.Table.from_arrays(arrays, names=names).replace_schema_metadata(INFERENCE_SCHEMA.metadata)


def label_table(columns: list[list[Any]]) -> pa.Table:
    if not columns or not columns[0]:
        return LABEL_SCHEMA.empty_table()
    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, LABEL_SCHEMA, strict=True)]
    return pa.Table.from_arrays(arrays, schema=LABEL_SCHEMA)


class _ModelRows:
    def __init__(self) -> None:
        self.rows: list[list[Any]] = []
        self.hours: list[int] = []
        self.features: dict[str, dict[int, Any]] = {}
        self.segments: dict[str, dict[int, Any]] = {}

    def table(self) -> pa.Table:
        n = len(self.rows)
        named: list[list[Named]] = [[], []]
        for part, store in enumerate((self.features, self.segments)):
            for name, by_row in store.items():
                values = [None] * n
                for i, v in by_row.items():
                    values[i] = v
                named[part].append((name, values if part == 0 else _as_text(values), None))
        return inference_table([list(col) for col in zip(*self.rows, strict=True)], named[0], named[1])


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
        if event.kind == LABEL_EVENT:
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
        return label_table([list(col) for col in zip(*self.labels, strict=True)])


class NativeMLRows:
    """``MLRows`` kept by the compiled reader (``native/logscan.c``): the same rows, gathered column by
    column in C. ``scan`` reads a whole request's events from its wire bytes, or returns None (and adds
    nothing) when anything in it needs the Python reader; ``add`` takes an event that reader read."""

    def __init__(self, logscan: Any) -> None:
        self._batch = logscan.MLBatch()

    def scan(self, payload: bytes, received_ns: int, resource: Any) -> list[tuple[int, int, int]] | None:
        return self._batch.scan(payload, received_ns, resource)

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
        self._batch.add(
            event.kind == LABEL_EVENT,
            event.model,
            event.version,
            event.request_id,
            event.value,
            event.latency_ms,
            event.nonfinite,
            event.features,
            event.segment,
            event.probabilities,
            t,
            trace_id,
            span_id,
            svc,
            ver,
            env,
            received_ns,
        )

    def inference_tables(self) -> list[tuple[str, pa.Table, list[int]]]:
        return [
            (model_slug(model), inference_table(columns, features, segments), hours)
            for model, columns, hours, features, segments in sorted(self._batch.models(), key=lambda m: m[0])
        ]

    @property
    def label_hours(self) -> list[int]:
        return self._batch.labels()[1]

    def label_table(self) -> pa.Table:
        return label_table(self._batch.labels()[0])


def new_ml_rows() -> MLRows | NativeMLRows:
    """The compiled accumulator where it is built (and not turned off), else the Python one."""
    from driftline.collector.native import logscan

    return NativeMLRows(logscan) if logscan is not None else MLRows()
