"""Inference and label events from a scoring service: ``log_inference``, ``log_label`` and friends.

Why it never raises and never blocks: this runs on a model's request path. Events go to the OTel
SDK's ``LoggerProvider`` (whose ``BatchLogRecordProcessor`` exports in the background); anything that
goes wrong while building one — a value of an unknown type, a feature map over the limit, an SDK
error — is counted (``stats()``), logged once, and the caller gets its request id back regardless.
Feature values are telemetry like message content: ``DRIFTLINE_SCRUB_PII`` blanks PII in string
features and segment values, and ``protect(model, hash=..., drop=...)`` keeps listed features from
leaving the process in clear (a hash still lets drift be measured, a drop sends nothing).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from driftline.instrumentation import settings as _settings
from driftline.instrumentation.ml import convention as cv
from driftline.instrumentation.scrub import scrub

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class _Counters:
    lock: threading.Lock = field(default_factory=threading.Lock)
    emitted: int = 0
    dropped: int = 0  # events that never reached the SDK (an error while building or emitting one)
    nonfinite: int = 0  # NaN/±Inf values sent as null
    invalid_values: int = 0  # feature/segment values of an unknown type, left out of their event
    warned: set[str] = field(default_factory=set)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def warn_once(self, key: str, message: str, *args: Any) -> None:
        with self.lock:
            if key in self.warned:
                return
            self.warned.add(key)
        log.warning(message, *args)


_COUNTERS = _Counters()


@dataclass(frozen=True)
class _Protection:
    hashed: frozenset[str] = frozenset()
    dropped: frozenset[str] = frozenset()


_PROTECTED: dict[str, _Protection] = {}


def protect(model: str, *, hash: Iterable[str] = (), drop: Iterable[str] = ()) -> None:
    """Features of ``model`` that must never leave the process in clear.

    ``hash``: sent as the first 16 hex digits of their SHA-256 (equal values stay equal, so their
    drift is still measured); ``drop``: not sent at all. Names are dotted feature names; a parent
    (``"user"``) covers its nested features (``"user.email"``). Calling again replaces the lists.
    """
    _PROTECTED[model] = _Protection(frozenset(hash), frozenset(drop))


def stats() -> dict[str, int]:
    """Counters since start: events emitted and dropped, NaN/Inf values nulled, invalid values left out."""
    with _COUNTERS.lock:
        return {
            "emitted": _COUNTERS.emitted,
            "dropped": _COUNTERS.dropped,
            "nonfinite": _COUNTERS.nonfinite,
            "invalid_values": _COUNTERS.invalid_values,
        }


def _hashed(value: cv.Scalar) -> str:
    return hashlib.sha256(str(value).encode()).hexdigest()[:16]


_LOGGER: list[Any] = []  # the logger in use, once chosen
_PROVIDER: list[Any] = []  # the provider set by use_logger_provider (the batch forms flush it)
BATCH_FLUSH_EVERY = 1000  # below the SDK's default queue of 2,048 records


def use_logger_provider(logger_provider: Any) -> None:
    """Send ML events to ``logger_provider`` instead of the global one (as instrumentors take
    ``logger_provider=``): for apps that keep their providers out of the globals, and tests."""
    from opentelemetry._logs import get_logger

    _LOGGER[:] = [get_logger("driftline.ml", logger_provider=logger_provider)]
    _PROVIDER[:] = [logger_provider]


def _flush() -> None:
    """Wait for the exporter: the batch forms call this every BATCH_FLUSH_EVERY events, so an offline
    job scoring a million rows is not cut down by the SDK's bounded queue (it drops when full)."""
    try:
        if _PROVIDER:
            provider = _PROVIDER[0]
        else:
            from opentelemetry._logs import get_logger_provider

            provider = get_logger_provider()
        flush = getattr(provider, "force_flush", None)
        if flush is not None:
            flush()
    except Exception as exc:
        _COUNTERS.warn_once("flush", "driftline: flushing ML events failed: %s", exc)


def _logger() -> Any:
    """The chosen logger, else the global provider's (a proxy until the app or ``setup()`` sets one)."""
    if not _LOGGER:
        from opentelemetry._logs import get_logger

        _LOGGER[:] = [get_logger("driftline.ml")]
    return _LOGGER[0]


def _clean_map(
    model: str, what: str, mapping: Mapping[str, Any] | None, protection: _Protection | None, scrub_pii: bool
) -> tuple[dict[str, cv.Scalar], int]:
    """Flattened, typed, protected values of ``mapping``; (values, how many NaN/Inf became null)."""
    if not mapping:
        return {}, 0
    out: dict[str, cv.Scalar] = {}
    nonfinite = 0
    for name, raw in cv.flatten(mapping):
        if protection is not None and cv.matches(name, protection.dropped):
            continue
        try:
            value, was_nonfinite = cv.scalar(raw)
        except cv.UnknownValue as exc:
            _COUNTERS.add(invalid_values=1)
            _COUNTERS.warn_once(
                f"{model}/{what}/{name}", "driftline: %s %r of model %r left out: %s", what, name, model, exc
            )
            continue
        nonfinite += was_nonfinite
        if protection is not None and value is not None and cv.matches(name, protection.hashed):
            value = _hashed(value)
        elif scrub_pii and isinstance(value, str):
            value = scrub(value)
        out[name] = value
    return out, nonfinite


def _probabilities(raw: Mapping[Any, Any] | Sequence[float] | None) -> dict[str, float | None]:
    if raw is None:
        return {}
    items = raw.items() if isinstance(raw, Mapping) else enumerate(raw)
    out: dict[str, float | None] = {}
    for key, p in items:
        value, _ = cv.scalar(p)
        if isinstance(value, (str, bool)):
            raise cv.UnknownValue(f"probability of {key!r} is not a number")
        out[str(key)] = None if value is None else float(value)
    return out


def _ns(ts: float | int | None) -> int:
    """Event time: epoch seconds (float) or nanoseconds (int above 1e15); default now."""
    if ts is None:
        return time.time_ns()
    if isinstance(ts, int) and ts > 10**15:
        return ts
    return int(float(ts) * 1e9)


def _emit(event_name: str, attributes: dict[str, Any], body: str | None, ts: float | int | None) -> None:
    from opentelemetry._logs import SeverityNumber

    _logger().emit(
        timestamp=_ns(ts),
        observed_timestamp=time.time_ns(),
        severity_number=SeverityNumber.INFO,
        body=body,
        attributes={k: v for k, v in attributes.items() if v is not None},
        event_name=event_name,
    )


def log_inference(
    model: str,
    version: str | None,
    features: Mapping[str, Any] | None,
    prediction: Any,
    *,
    probabilities: Mapping[Any, Any] | Sequence[float] | None = None,
    latency_ms: float | None = None,
    segment: Mapping[str, Any] | None = None,
    request_id: str | None = None,
    ts: float | int | None = None,
) -> str:
    """Record one prediction; returns its request id (``request_id`` or a new one) for ``log_label``.

    ``features``/``segment``: numbers, strings, booleans or null, nested maps flattened with dotted
    names; NaN/±Inf are sent as null and counted. ``ts``: epoch seconds (default now).
    """
    rid = str(request_id) if request_id is not None else uuid.uuid4().hex
    try:
        scrub_pii = _scrub_enabled()
        protection = _PROTECTED.get(model)
        feats, nonfinite = _clean_map(model, "feature", features, protection, scrub_pii)
        if len(feats) > cv.MAX_FEATURES:
            raise ValueError(f"{len(feats)} features (at most {cv.MAX_FEATURES})")
        seg, seg_nonfinite = _clean_map(model, "segment", segment, None, scrub_pii)
        if len(seg) > cv.MAX_SEGMENT_KEYS:
            raise ValueError(f"{len(seg)} segment keys (at most {cv.MAX_SEGMENT_KEYS})")
        pred, pred_nonfinite = cv.scalar(prediction)
        latency, latency_nonfinite = cv.scalar(latency_ms)
        if latency is not None and (isinstance(latency, (str, bool))):
            raise ValueError("latency_ms must be a number")
        nonfinite += seg_nonfinite + pred_nonfinite + latency_nonfinite
        body: dict[str, Any] = {cv.FEATURES: feats}
        if seg:
            body[cv.SEGMENT] = seg
        probs = _probabilities(probabilities)
        if probs:
            body[cv.PROBABILITIES] = probs
        attributes = {
            cv.MODEL: str(model),
            cv.MODEL_VERSION: None if version is None else str(version),
            cv.REQUEST_ID: rid,
            cv.PREDICTION: pred,
            cv.LATENCY_MS: None if latency is None else float(latency),
            cv.NONFINITE: nonfinite or None,
        }
        _emit(cv.INFERENCE_EVENT, attributes, cv.encode_body(body), ts)
        _COUNTERS.add(emitted=1, nonfinite=nonfinite)
    except Exception as exc:  # never into the caller's request path
        _COUNTERS.add(dropped=1)
        _COUNTERS.warn_once(f"inference/{type(exc).__name__}", "driftline: an inference event was dropped: %s", exc)
    return rid


def log_label(request_id: str, label: Any, *, ts: float | int | None = None, model: str | None = None) -> None:
    """Record the true outcome of ``request_id`` (seconds to days later, from any process).

    Logging a label again keeps both; views use the latest. ``model`` restricts the label to that
    model's inference when several models scored one request id.
    """
    try:
        value, nonfinite = cv.scalar(label)
        attributes = {
            cv.REQUEST_ID: str(request_id),
            cv.LABEL_VALUE: value,
            cv.MODEL: model,
            cv.NONFINITE: nonfinite or None,
        }
        _emit(cv.LABEL_EVENT, attributes, None, ts)
        _COUNTERS.add(emitted=1, nonfinite=int(nonfinite))
    except Exception as exc:
        _COUNTERS.add(dropped=1)
        _COUNTERS.warn_once(f"label/{type(exc).__name__}", "driftline: a label event was dropped: %s", exc)


def _records(frame: Any) -> list[Mapping[str, Any]]:
    """Rows of a list of dicts, a pandas DataFrame or a pyarrow Table."""
    if hasattr(frame, "to_dict") and hasattr(frame, "columns"):  # pandas
        return frame.to_dict("records")
    if hasattr(frame, "to_pylist"):  # pyarrow
        return frame.to_pylist()
    return list(frame)


def _column(values: Any, n: int, what: str) -> list[Any]:
    if values is None:
        return [None] * n
    out = list(values.tolist() if hasattr(values, "tolist") else values)
    if len(out) != n:
        raise ValueError(f"{what} has {len(out)} values for {n} inferences")
    return out


def log_inferences(
    model: str,
    version: str | None,
    features: Any,
    predictions: Any,
    *,
    probabilities: Any = None,
    latency_ms: Any = None,
    segments: Any = None,
    request_ids: Any = None,
    ts: Any = None,
) -> list[str]:
    """The batch form for offline scoring jobs: one event per row; returns the request ids.

    ``features`` is a list of dicts, a pandas DataFrame or a pyarrow Table; the other arguments are
    sequences of the same length (or None); ``ts`` one time for all or a list. Raises ValueError only
    when the lengths disagree. Waits for the exporter every 1,000 events (an offline job is not cut
    down by the SDK's bounded queue).
    """
    rows = _records(features)
    n = len(rows)
    preds = _column(predictions, n, "predictions")
    probs, lats = _column(probabilities, n, "probabilities"), _column(latency_ms, n, "latency_ms")
    segs = _records(segments) if segments is not None else [None] * n
    if len(segs) != n:
        raise ValueError(f"segments has {len(segs)} values for {n} inferences")
    rids, times = _column(request_ids, n, "request_ids"), ts if isinstance(ts, (list, tuple)) else [ts] * n
    ids = []
    for i in range(n):
        ids.append(
            log_inference(
                model,
                version,
                rows[i],
                preds[i],
                probabilities=probs[i],
                latency_ms=lats[i],
                segment=segs[i],
                request_id=rids[i],
                ts=times[i],
            )
        )
        if (i + 1) % BATCH_FLUSH_EVERY == 0:
            _flush()
    return ids


def log_labels(request_ids: Iterable[str], labels: Iterable[Any], *, ts: Any = None, model: str | None = None) -> int:
    """Labels for many request ids at once (a nightly chargeback file); returns how many were logged."""
    rids, values = list(request_ids), list(labels.tolist() if hasattr(labels, "tolist") else labels)
    if len(rids) != len(values):
        raise ValueError(f"{len(values)} labels for {len(rids)} request ids")
    times = ts if isinstance(ts, (list, tuple)) else [ts] * len(rids)
    for i, (rid, value, t) in enumerate(zip(rids, values, times, strict=True)):
        log_label(rid, value, ts=t, model=model)
        if (i + 1) % BATCH_FLUSH_EVERY == 0:
            _flush()
    return len(rids)


class timed_inference:
    """Time a prediction and log it, as a context manager or a decorator.

        with timed_inference("fraud", "v2", features, segment={"country": "FR"}) as inf:
            inf.prediction = model.predict_proba(x)[0, 1] > 0.5

        @timed_inference("fraud", "v2")
        def score(features: dict) -> bool: ...   # features = first argument, prediction = result

    Nothing is logged when the block or the function raises, or when no prediction was set.
    """

    def __init__(
        self,
        model: str,
        version: str | None,
        features: Mapping[str, Any] | None = None,
        *,
        segment: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> None:
        self.model, self.version, self.features = model, version, features
        self.segment = segment
        self.request_id = request_id if request_id is not None else uuid.uuid4().hex
        self.prediction: Any = _UNSET
        self.probabilities: Any = None
        self.latency_ms: float | None = None
        self._started = 0.0

    def __enter__(self) -> timed_inference:
        self._started = time.perf_counter()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.latency_ms = (time.perf_counter() - self._started) * 1000.0
        if exc_type is not None or self.prediction is _UNSET:
            return
        log_inference(
            self.model,
            self.version,
            self.features,
            self.prediction,
            probabilities=self.probabilities,
            latency_ms=self.latency_ms,
            segment=self.segment,
            request_id=self.request_id,
        )

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            features = args[0] if args and isinstance(args[0], Mapping) else self.features
            with timed_inference(self.model, self.version, features, segment=self.segment) as inf:
                result = fn(*args, **kwargs)
                inf.prediction = result
            return result

        return wrapper  # type: ignore[return-value]


_UNSET: Any = object()


def _scrub_enabled() -> bool:
    """Whether DRIFTLINE_SCRUB_PII is on (read per event, so a test or a reload can change it)."""
    return os.environ.get(_settings.SCRUB_PII, "").strip().lower() in ("true", "1", "yes", "on")
