"""The ``driftline.ml.*`` event convention: how an inference or a late label travels as an OTLP log record.

Why log records (events) and not spans: an inference is a point in time with a payload, and its label
arrives seconds to days later from another process — neither has a duration or a parent. OTLP log
records with an ``event_name`` are carried unchanged by every OTLP exporter, the OpenTelemetry
Collector and ``opentelemetry-instrument``, and are linked to the current trace when there is one.

Why the SDK sends the body as JSON text: encoding a nested map costs the OTLP exporter (and decoding
it the receiver) a protobuf object per feature, ten times what one JSON string costs; JSON text in a
string value is how OpenInference and the older GenAI conventions carry structured content too. A
body that is a structured map is accepted the same way (another SDK, a Collector transform).

Why the features travel in the body: the SDK caps a record's *attributes* (128 by default,
``OTEL_ATTRIBUTE_COUNT_LIMIT``) and a model can have hundreds of features; the body is one
structured value with no such cap (as GenAI content events carry messages in theirs). Identity —
model, version, request id, prediction — is in attributes, where Collector processors can route on it.

This module is the one home of the convention: the app side (``instrumentation.ml``) writes it, the
receiver (``collector.ml_events``) validates and reads it, and both use the value rules below.

    event_name  driftline.ml.inference
      attributes  driftline.ml.model, driftline.ml.model.version, driftline.ml.request_id,
                  driftline.ml.prediction (number | string | bool), driftline.ml.latency_ms (number),
                  driftline.ml.nonfinite (int: values the app turned into null)
      body        {"features": {name: value}, "segment": {key: value}, "probabilities": {class: p}}
                  as a map (AnyValue kvlist), or the same map as JSON text (what the SDK sends)
    event_name  driftline.ml.label
      attributes  driftline.ml.request_id, driftline.ml.label.value (number | string | bool),
                  driftline.ml.model (optional: the label applies to that model's inference only)
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

INFERENCE_EVENT = "driftline.ml.inference"
LABEL_EVENT = "driftline.ml.label"
EVENTS = (INFERENCE_EVENT, LABEL_EVENT)

MODEL = "driftline.ml.model"
MODEL_VERSION = "driftline.ml.model.version"
REQUEST_ID = "driftline.ml.request_id"
PREDICTION = "driftline.ml.prediction"
LATENCY_MS = "driftline.ml.latency_ms"
NONFINITE = "driftline.ml.nonfinite"
LABEL_VALUE = "driftline.ml.label.value"

# keys of the inference body
FEATURES = "features"
SEGMENT = "segment"
PROBABILITIES = "probabilities"

MAX_FEATURES = 1000  # flattened features per event; more is refused (a feature map gone wrong)
MAX_SEGMENT_KEYS = 64
MAX_NAME_CHARS = 256

Scalar = bool | int | float | str | None


class UnknownValue(TypeError):
    """A feature/segment value that is not a number, string, boolean or null."""


def scalar(value: Any) -> tuple[Scalar, bool]:
    """(value as a plain scalar, whether it was NaN/±Inf and became null); raises UnknownValue.

    numpy scalars (``np.float32(1.5)``, ``np.int64(3)``, ``np.bool_``) are accepted: they are what a
    model's feature frame holds.
    """
    if value is None or isinstance(value, (bool, str)):
        return value, False
    if isinstance(value, int):
        return value, False
    if isinstance(value, float):
        return (None, True) if not math.isfinite(value) else (value, False)
    item = getattr(value, "item", None)  # numpy / pandas scalars
    if item is not None and getattr(value, "ndim", 0) == 0 and not isinstance(value, (bytes, bytearray)):
        try:
            return scalar(item())
        except UnknownValue:
            pass
    raise UnknownValue(f"{type(value).__name__} is not a number, string, boolean or null")


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted name, raw value) for every leaf: ``{"user": {"age": 3}}`` gives ``("user.age", 3)``."""
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from flatten(value, f"{name}.")
        else:
            yield name, value


def matches(name: str, patterns: frozenset[str]) -> bool:
    """``name`` or one of its dotted parents is listed (``user`` covers ``user.email``)."""
    if name in patterns:
        return True
    while "." in name:
        name = name.rsplit(".", 1)[0]
        if name in patterns:
            return True
    return False


def encode_body(body: Mapping[str, Any]) -> str:
    """The inference body as compact JSON text (NaN/Inf were already made null: strict JSON)."""
    return json.dumps(body, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
