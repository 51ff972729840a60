"""Inference and label events (``driftline.ml.*`` log records): the rule that refuses a bad one, and its reading.

Why one module for both: the receiver refuses a bad event at ack time (counted in ``partial_success``
and ``/metrics`` by reason) and the normalizer drops the same events behind the WAL; one function
(``read``) decides both, so what was acknowledged is exactly what lands in Parquet. It reads the
protobuf values directly (no dict of the whole record): this runs once per event on the ack path.
Other senders (a Collector transform, another SDK) may nest feature maps or send NaN; nested maps are
flattened with dotted names and NaN/±Inf become null and are counted, as the app-side SDK does.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from driftline.instrumentation.ml import convention as cv

Scalar = bool | float | str | None


class Refused(ValueError):
    """An event that cannot be stored: ``code`` labels it in /metrics, the message goes to the client."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class MLEvent:
    """One event's values, as read from its record (the normalizer adds time, resource and ids)."""

    kind: str  # cv.INFERENCE_EVENT or cv.LABEL_EVENT
    model: str | None = None
    version: str | None = None
    request_id: str | None = None
    value: Scalar = None  # prediction or label
    latency_ms: float | None = None
    nonfinite: int = 0
    features: list[tuple[str, Scalar]] = field(default_factory=list)
    segment: list[tuple[str, Scalar]] = field(default_factory=list)
    probabilities: list[tuple[str, float | None]] = field(default_factory=list)


def event_name(record: LogRecord) -> str | None:
    """The record's event name: the ``event_name`` field, else an ``event.name`` attribute."""
    name = record.event_name
    if name:
        return name
    for kv in record.attributes:
        if kv.key == "event.name":
            return kv.value.string_value or None
    return None


def _scalar(value: AnyValue, what: str) -> tuple[Scalar, bool]:
    kind = value.WhichOneof("value")
    if kind == "double_value":
        x = value.double_value
        return (x, False) if math.isfinite(x) else (None, True)
    if kind == "string_value":
        return value.string_value, False
    if kind == "int_value":
        return float(value.int_value), False
    if kind == "bool_value":
        return value.bool_value, False
    if kind is None:
        return None, False
    raise Refused("ml_unknown_type", f"{what} is {kind.removesuffix('_value')} (numbers, strings, booleans or null)")


def _flatten(values: Any, prefix: str, out: list[tuple[str, Scalar]], what: str, event: MLEvent) -> None:
    """Append (dotted name, value) of every leaf to ``out``. The hot loop of ML ingest (once per
    feature, at ack time and again in the normalizer): ``_scalar``'s rule inlined, messages built only
    on refusal."""
    nonfinite = 0
    append = out.append
    limit = cv.MAX_NAME_CHARS - len(prefix)
    for kv in values:
        key = kv.key
        value = kv.value
        kind = value.WhichOneof("value")
        if kind == "double_value":
            x: Scalar = value.double_value
            if x - x != 0.0:  # type: ignore[operator]  # NaN or ±Inf (inf - inf is NaN)
                x = None
                nonfinite += 1
        elif kind == "string_value":
            x = value.string_value
        elif kind == "int_value":
            x = float(value.int_value)
        elif kind == "bool_value":
            x = value.bool_value
        elif kind is None:
            x = None
        elif kind == "kvlist_value":
            _flatten(value.kvlist_value.values, f"{prefix}{key}.", out, what, event)
            continue
        else:
            _scalar(value, f"{what} {prefix + key!r}")  # raises Refused with the message
        if not key or len(key) > limit:
            name = prefix + key
            raise Refused("ml_bad_name", f"{what} name {name[:40]!r} is empty or longer than {cv.MAX_NAME_CHARS}")
        append((prefix + key if prefix else key, x))
    event.nonfinite += nonfinite


def _flatten_json(values: Any, prefix: str, out: list[tuple[str, Scalar]], what: str, event: MLEvent) -> None:
    """``_flatten`` for a body sent as JSON text: the same rule over Python values."""
    if not isinstance(values, dict):
        raise Refused("ml_bad_body", f"body.{what}s must be a map")
    nonfinite = 0
    append = out.append
    limit = cv.MAX_NAME_CHARS - len(prefix)
    for key, x in values.items():
        t = type(x)
        if t is float:
            if x - x != 0.0:  # NaN or ±Inf
                x = None
                nonfinite += 1
        elif t is int:
            x = float(x)
        elif t is dict:
            _flatten_json(x, f"{prefix}{key}.", out, what, event)
            continue
        elif not (t is str or t is bool or x is None):
            kind = "array" if t is list else t.__name__
            raise Refused("ml_unknown_type", f"{what} {prefix + key!r} is {kind} (numbers, strings, booleans or null)")
        if not key or len(key) > limit:
            name = prefix + key
            raise Refused("ml_bad_name", f"{what} name {name[:40]!r} is empty or longer than {cv.MAX_NAME_CHARS}")
        append((prefix + key if prefix else key, x))
    event.nonfinite += nonfinite


def _json_body(text: str, event: MLEvent) -> None:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise Refused("ml_bad_body", f"an inference body that is text must be JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise Refused("ml_bad_body", "an inference body must be a map of features, segment and probabilities")
    features = doc.get(cv.FEATURES)
    if features is not None:
        if isinstance(features, dict) and len(features) > cv.MAX_FEATURES:
            raise Refused("ml_too_many_features", f"{len(features)} features (at most {cv.MAX_FEATURES})")
        _flatten_json(features, "", event.features, "feature", event)
        if len(event.features) > cv.MAX_FEATURES:
            raise Refused("ml_too_many_features", f"{len(event.features)} features (at most {cv.MAX_FEATURES})")
    segment = doc.get(cv.SEGMENT)
    if segment is not None:
        _flatten_json(segment, "", event.segment, "segment", event)
        if len(event.segment) > cv.MAX_SEGMENT_KEYS:
            raise Refused("ml_too_many_features", f"{len(event.segment)} segment keys (at most {cv.MAX_SEGMENT_KEYS})")
    probabilities = doc.get(cv.PROBABILITIES)
    if probabilities is not None:
        if not isinstance(probabilities, dict):
            raise Refused("ml_bad_body", "body.probabilities must be a map")
        for key, p in probabilities.items():
            if type(p) not in (float, int):  # bool, str, list... (null is allowed)
                if p is not None:
                    raise Refused("ml_unknown_type", f"probability of {key!r} is not a number")
            elif p - p != 0.0:
                p = None
                event.nonfinite += 1
            event.probabilities.append((key, None if p is None else float(p)))


def _body(record: LogRecord, event: MLEvent) -> None:
    if not record.HasField("body"):
        return
    kind = record.body.WhichOneof("value")
    if kind is None:
        return
    if kind == "string_value":  # the SDK's compact form: the same map as JSON text
        _json_body(record.body.string_value, event)
        return
    if kind != "kvlist_value":
        raise Refused("ml_bad_body", "an inference body must be a map of features, segment and probabilities")
    for part in record.body.kvlist_value.values:
        kind = part.value.WhichOneof("value")
        if kind is None:
            continue
        if kind != "kvlist_value":
            raise Refused("ml_bad_body", f"body.{part.key} must be a map")
        values = part.value.kvlist_value.values
        if part.key == cv.FEATURES:
            if len(values) > cv.MAX_FEATURES:
                raise Refused("ml_too_many_features", f"{len(values)} features (at most {cv.MAX_FEATURES})")
            _flatten(values, "", event.features, "feature", event)
            if len(event.features) > cv.MAX_FEATURES:
                raise Refused("ml_too_many_features", f"{len(event.features)} features (at most {cv.MAX_FEATURES})")
        elif part.key == cv.SEGMENT:
            _flatten(values, "", event.segment, "segment", event)
            if len(event.segment) > cv.MAX_SEGMENT_KEYS:
                raise Refused(
                    "ml_too_many_features", f"{len(event.segment)} segment keys (at most {cv.MAX_SEGMENT_KEYS})"
                )
        elif part.key == cv.PROBABILITIES:
            for kv in values:
                p, nonfinite = _scalar(kv.value, f"probability of {kv.key!r}")
                if isinstance(p, (str, bool)):
                    raise Refused("ml_unknown_type", f"probability of {kv.key!r} is not a number")
                event.nonfinite += nonfinite
                event.probabilities.append((kv.key, p))


def read(record: LogRecord, name: str) -> MLEvent:
    """The event in ``record`` (whose event name is ``name``, one of ``cv.EVENTS``); raises Refused."""
    event = MLEvent(name)
    for kv in record.attributes:
        key = kv.key
        if not key.startswith("driftline.ml."):
            continue
        if key == cv.MODEL:
            event.model = kv.value.string_value or None
        elif key == cv.MODEL_VERSION:
            event.version = _text(kv.value)
        elif key == cv.REQUEST_ID:
            event.request_id = _text(kv.value)
        elif key in (cv.PREDICTION, cv.LABEL_VALUE):
            event.value, nonfinite = _scalar(kv.value, key)
            event.nonfinite += nonfinite
        elif key == cv.LATENCY_MS:
            latency, nonfinite = _scalar(kv.value, key)
            if nonfinite or isinstance(latency, (str, bool)) or (latency is not None and latency < 0):
                raise Refused("ml_bad_latency", f"{cv.LATENCY_MS} must be a finite number >= 0")
            event.latency_ms = latency
        elif key == cv.NONFINITE:
            event.nonfinite += int(kv.value.int_value)
    if not event.request_id:
        raise Refused("ml_no_request_id", f"{name} without {cv.REQUEST_ID}")
    if name == cv.INFERENCE_EVENT:
        if not event.model:
            raise Refused("ml_no_model", f"{name} without {cv.MODEL}")
        _body(record, event)
    return event


def _text(value: AnyValue) -> str | None:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value or None
    if kind == "int_value":
        return str(value.int_value)
    return None


def problem(record: LogRecord) -> tuple[str, str] | None:
    """(reason code, message) when ``record`` is an ML event that cannot be stored, else None."""
    name = event_name(record)
    if name not in cv.EVENTS:
        return None
    try:
        read(record, name)
    except Refused as exc:
        return exc.code, str(exc)
    return None
