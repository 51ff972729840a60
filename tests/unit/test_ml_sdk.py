"""The app-side ML functions: never raise into the caller, count what they drop, follow the convention."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from driftline.instrumentation import ml
from driftline.instrumentation.ml import convention as cv


@pytest.fixture
def events() -> Iterator[InMemoryLogRecordExporter]:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    ml.use_logger_provider(provider)
    yield exporter
    provider.shutdown()


def _records(exporter: InMemoryLogRecordExporter) -> list:
    """The records, with the body (JSON text, as the SDK sends it) decoded."""
    out = []
    for d in exporter.get_finished_logs():
        rec = d.log_record
        if isinstance(rec.body, str):
            rec.body = json.loads(rec.body)
        out.append(rec)
    return out


def test_an_inference_follows_the_convention(events) -> None:
    rid = ml.log_inference(
        "fraud",
        "v2",
        {"amount": np.float32(1.5), "n": np.int64(3), "ok": np.bool_(True), "user": {"age": 31}, "x": math.inf},
        True,
        probabilities=[0.2, 0.8],
        latency_ms=2.5,
        segment={"country": "FR"},
    )
    (rec,) = _records(events)
    assert rec.event_name == cv.INFERENCE_EVENT
    assert dict(rec.attributes) == {
        cv.MODEL: "fraud",
        cv.MODEL_VERSION: "v2",
        cv.REQUEST_ID: rid,
        cv.PREDICTION: True,
        cv.LATENCY_MS: 2.5,
        cv.NONFINITE: 1,
    }
    assert rec.body == {
        "features": {"amount": 1.5, "n": 3, "ok": True, "user.age": 31, "x": None},
        "segment": {"country": "FR"},
        "probabilities": {"0": 0.2, "1": 0.8},
    }


def test_bad_input_never_raises_and_is_counted(events) -> None:
    before = ml.stats()
    rid = ml.log_inference("fraud", "v1", object(), 1.0)  # type: ignore[arg-type]  # not a mapping
    assert isinstance(rid, str) and rid
    assert ml.log_inference("fraud", "v1", {f"f{i}": 1.0 for i in range(cv.MAX_FEATURES + 1)}, 1.0, request_id="r")
    ml.log_inference("fraud", "v1", {"tags": ["a", "b"], "amount": 2.0}, 1.0, latency_ms="slow")  # type: ignore[arg-type]
    ml.log_inference("fraud", "v1", {"tags": ["a", "b"], "amount": 2.0}, 1.0)
    after = ml.stats()
    assert after["dropped"] - before["dropped"] == 3
    assert after["invalid_values"] - before["invalid_values"] == 2  # the list feature, left out twice
    (rec,) = _records(events)
    assert rec.body == {"features": {"amount": 2.0}}


def test_timed_inference_as_context_manager_and_decorator(events) -> None:
    with ml.timed_inference("pricing", "v1", {"sku": "A"}) as inf:
        inf.prediction = 9.5
    with pytest.raises(RuntimeError), ml.timed_inference("pricing", "v1", {"sku": "B"}) as failed:
        failed.prediction = 1.0
        raise RuntimeError("model crashed")

    @ml.timed_inference("pricing", "v2")
    def predict(features: dict) -> float:
        return 2 * features["x"]

    assert predict({"x": 4.0}) == 8.0
    recs = _records(events)
    assert [r.attributes[cv.MODEL_VERSION] for r in recs] == ["v1", "v2"]  # nothing for the failed call
    assert recs[0].attributes[cv.REQUEST_ID] == inf.request_id and recs[0].attributes[cv.LATENCY_MS] >= 0
    assert recs[1].body == {"features": {"x": 4.0}} and recs[1].attributes[cv.PREDICTION] == 8.0


def test_batch_forms_take_frames_and_check_lengths(events) -> None:
    frame = pa.table({"amount": [1.0, 2.0, float("nan")], "country": ["FR", "DE", None]})
    ids = ml.log_inferences("fraud", "v1", frame, [0, 1, 0], request_ids=["a", "b", "c"], ts=[1.0, 2.0, 3.0])
    assert ids == ["a", "b", "c"]
    assert ml.log_labels(ids, np.array([True, False, True]), model="fraud") == 3
    recs = _records(events)
    assert [r.event_name for r in recs] == [cv.INFERENCE_EVENT] * 3 + [cv.LABEL_EVENT] * 3
    assert recs[2].body == {"features": {"amount": None, "country": None}} and recs[2].attributes[cv.NONFINITE] == 1
    assert [r.timestamp for r in recs[:3]] == [1_000_000_000, 2_000_000_000, 3_000_000_000]
    assert dict(recs[3].attributes) == {cv.REQUEST_ID: "a", cv.LABEL_VALUE: True, cv.MODEL: "fraud"}
    with pytest.raises(ValueError, match="2 values for 3 inferences"):
        ml.log_inferences("fraud", "v1", frame, [0, 1])
    with pytest.raises(ValueError, match="1 labels for 2 request ids"):
        ml.log_labels(["a", "b"], [True])
