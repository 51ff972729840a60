"""A reference set (e.g. the training data) loaded as inferences of a version, so production can be
compared to it.

Why in the collector: it writes the ``inferences`` (and ``labels``) datasets, and the collector is the
one writer of the data root — same layout (``schema.py``), same durable sink, same file naming. Every
column of the file is a feature unless named as the prediction, label, request id, time or a
segment key; struct columns are flattened with dotted names as the SDK flattens nested maps.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from driftline.collector.schema import FEATURE_PREFIX, INFERENCE_SCHEMA, LABEL_SCHEMA, SEGMENT_PREFIX
from driftline.collector.sink.parquet import HOUR_NS, ParquetSink
from driftline.instrumentation.ml.convention import MAX_FEATURES


@dataclass
class ImportedSet:
    rows: int
    features: list[str]
    labels: int


def read_table(path: str) -> pa.Table:
    """A Parquet or CSV file as an Arrow table, nested columns flattened (``user.age``)."""
    suffix = Path(path).suffix.lower()
    try:
        if suffix == ".csv":
            import pyarrow.csv as pacsv

            table = pacsv.read_csv(path)
        elif suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        else:
            raise ValueError(f"{path}: a reference set is a .parquet or .csv file")
    except (OSError, pa.ArrowInvalid) as exc:
        raise ValueError(f"{path} is not readable: {str(exc).splitlines()[0]}") from exc
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    return table


def _feature(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """The type rule of ``ml_rows``: booleans stay, numbers become float64, anything else string."""
    typ = column.type
    if pa.types.is_boolean(typ):
        return column
    if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        values = column.cast(pa.float64())
        return pc.if_else(pc.is_finite(values), values, pa.scalar(None, pa.float64()))  # NaN/Inf -> null
    return column.cast(pa.string())


def _chunked(values: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    return values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])


def _split(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """(number, class) views of a prediction or label column, as the receiver stores them."""
    n = len(column)
    typ = column.type
    if pa.types.is_boolean(typ):
        return column.cast(pa.float64()), pc.if_else(column, "true", "false")
    if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        return column.cast(pa.float64()), pa.chunked_array([pa.nulls(n, pa.string())])
    return pa.chunked_array([pa.nulls(n, pa.float64())]), column.cast(pa.string())


def import_reference(
    root: str,
    model: str,
    version: str,
    path: str,
    *,
    prediction: str | None = None,
    label: str | None = None,
    request_id: str | None = None,
    segments: tuple[str, ...] = (),
    at_ns: int | None = None,
) -> ImportedSet:
    """Write every row of ``path`` as an inference of ``model`` ``version`` at ``at_ns`` (default now)."""
    table = read_table(path)
    n = table.num_rows
    named = {c: what for c, what in (("prediction", prediction), ("label", label), ("request id", request_id)) if what}
    for what, column in named.items():
        if column not in table.column_names:
            raise ValueError(f"{path} has no column {column!r} (the {what}); columns: {', '.join(table.column_names)}")
    for key in segments:
        if key not in table.column_names:
            raise ValueError(f"{path} has no column {key!r} (a segment key)")
    reserved = {prediction, label, request_id, *segments}
    features = [c for c in table.column_names if c not in reserved]
    if len(features) > MAX_FEATURES:
        raise ValueError(f"{path} has {len(features)} feature columns (at most {MAX_FEATURES})")
    if n == 0:
        raise ValueError(f"{path} has no rows")
    t = at_ns if at_ns is not None else time.time_ns()
    tag = uuid.uuid4().hex[:12]
    rids = (
        table.column(request_id).cast(pa.string())
        if request_id
        else pa.array([f"{version}:{tag}:{i}" for i in range(n)], pa.string())
    )
    times = pa.array([t] * n, pa.timestamp("ns", tz="UTC"))
    if prediction:
        pred, pred_class = _split(table.column(prediction))
    else:
        pred, pred_class = pa.nulls(n, pa.float64()), pa.nulls(n, pa.string())
    fixed = {
        "time": times,
        "model": pa.array([model] * n, pa.string()),
        "model_version": pa.array([version] * n, pa.string()),
        "request_id": rids,
        "prediction": pred,
        "prediction_class": pred_class,
        "received_at": times,
        "nonfinite": pa.array([0] * n, pa.int64()),
    }
    arrays, names = [], []
    for f in INFERENCE_SCHEMA:
        arrays.append(fixed[f.name] if f.name in fixed else pa.nulls(n, f.type))
        names.append(f.name)
    for c in sorted(features):
        arrays.append(_feature(table.column(c)))
        names.append(FEATURE_PREFIX + c)
    for key in sorted(segments):
        arrays.append(table.column(key).cast(pa.string()))
        names.append(SEGMENT_PREFIX + key)
    inferences = pa.Table.from_arrays([_chunked(a) for a in arrays], names=names)
    inferences = inferences.replace_schema_metadata(INFERENCE_SCHEMA.metadata)
    hours = [t // HOUR_NS] * n
    sink = ParquetSink(root)
    sink.write("inferences", inferences, hours, f"import-{tag}")
    labelled = 0
    if label:
        number, klass = _split(table.column(label))
        keep = pc.or_(pc.is_valid(number), pc.is_valid(klass))
        label_fixed = {
            "time": times,
            "request_id": rids,
            "model": pa.array([model] * n, pa.string()),
            "label": number,
            "label_class": klass,
            "received_at": times,
        }
        columns = [_chunked(label_fixed.get(f.name, pa.nulls(n, f.type))) for f in LABEL_SCHEMA]
        labels = pa.Table.from_arrays(columns, schema=LABEL_SCHEMA).filter(keep)
        labelled = labels.num_rows
        sink.write("labels", labels, [t // HOUR_NS] * labelled, f"import-{tag}")
    return ImportedSet(n, sorted(features), labelled)
