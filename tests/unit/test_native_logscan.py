"""The compiled reader of OTLP logs (``collector/native/logscan.c``) against its specification, the Python
readers (``collector/ml_events.py``, ``collector/normalize/ml_rows.py``).

The oracle: on every request — fixtures, the benchmark's and the SDK's own here; a randomized corpus
(hypothesis) and byte-level mutations in ``test_native_logscan_random.py`` — (1) the compiled check
accepts a request only when the Python rule refuses none of its records, and (2) the rows written
(inferences per model, labels, other logs) are identical. A request the compiled reader is unsure of
goes to the Python path, so (2) holds by construction there; the tests also pin that what the SDK
sends is never handed back (or the speed would be lost silently).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import pyarrow as pa
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from driftline.collector import otlp
from driftline.collector.normalize import ml_rows
from driftline.collector.normalize.log_normalizer import LogNormalizer
from driftline.collector.normalize.normalizer import NormalizeOptions
from driftline.instrumentation.ml import convention as cv
from tests import native_verdict

try:
    from driftline.collector.native import _logscan
except ImportError:  # no C compiler where this was installed: the Python path is all there is
    _logscan = None

needs_native = pytest.mark.skipif(_logscan is None, reason="the compiled reader is not built here")
RECEIVED = 1_700_000_000_000_000_000


def test_the_compiled_reader_is_built_where_ci_runs() -> None:
    """CI has gcc: a silent fall-back to Python there would hide a broken build (and the speed)."""
    if _logscan is None:
        assert not os.environ.get("CI"), "collector/native/logscan.c did not build in CI"
        pytest.skip("no compiled reader on this machine")
    assert (_logscan.MAX_FEATURES, _logscan.MAX_SEGMENT_KEYS, _logscan.MAX_NAME_CHARS) == (
        cv.MAX_FEATURES,
        cv.MAX_SEGMENT_KEYS,
        cv.MAX_NAME_CHARS,
    )


# --- the oracle -------------------------------------------------------------------------------------


def _rows(normalizer: LogNormalizer) -> dict[str, Any]:
    return {
        "inferences": [(slug, t, list(hours)) for slug, t, hours in normalizer.ml.inference_tables()],
        "labels": normalizer.ml.label_table(),
        "label_hours": list(normalizer.ml.label_hours),
        "logs": normalizer.table(),
        "log_hours": list(normalizer.hours),
        "rejected": normalizer.rejected,
    }


def python_rows(payloads: list[bytes]) -> dict[str, Any]:
    normalizer = LogNormalizer(NormalizeOptions())
    normalizer.ml = ml_rows.MLRows()
    for payload in payloads:
        normalizer.add_request(otlp.parse("logs", payload), RECEIVED)
    return _rows(normalizer)


def native_rows(payloads: list[bytes]) -> tuple[dict[str, Any], int]:
    """The rows and how many requests the compiled reader read itself."""
    normalizer = LogNormalizer(NormalizeOptions())
    normalizer.ml = ml_rows.NativeMLRows(_logscan)
    scanned = 0
    for payload in payloads:
        probe = ml_rows.NativeMLRows(_logscan).scan(payload, RECEIVED, normalizer._ml_resource)
        scanned += probe is not None
        normalizer.add_payload(payload, RECEIVED)
    return _rows(normalizer), scanned


def _same_table(a: pa.Table, b: pa.Table) -> None:
    assert a.schema == b.schema, (a.schema, b.schema)
    assert a.schema.metadata == b.schema.metadata
    for name in a.schema.names:
        assert a.column(name).equals(b.column(name)), (name, a.column(name), b.column(name))
    assert a.equals(b)


def assert_same_rows(payloads: list[bytes]) -> int:
    want = python_rows(payloads)
    got, scanned = native_rows(payloads)
    assert [s for s, _, _ in got["inferences"]] == [s for s, _, _ in want["inferences"]]
    for (_, t_got, h_got), (_, t_want, h_want) in zip(got["inferences"], want["inferences"], strict=True):
        _same_table(t_got, t_want)
        assert h_got == h_want
    _same_table(got["labels"], want["labels"])
    assert got["label_hours"] == want["label_hours"]
    _same_table(got["logs"], want["logs"])
    assert got["log_hours"] == want["log_hours"]
    assert got["rejected"] == want["rejected"]
    return scanned


def assert_same_verdict(payload: bytes) -> int | None:
    """The compiled check never accepts what the rule refuses, and counts the same items."""
    return native_verdict.assert_same_verdict("logs", _logscan.check, payload)


# --- builders ---------------------------------------------------------------------------------------


def any_value(v: Any) -> AnyValue:
    """AnyValue of a Python value; a list of pairs is a map (so keys may repeat), a tuple an array."""
    if v is None:
        return AnyValue()
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, str):
        return AnyValue(string_value=v)
    if isinstance(v, bytes):
        return AnyValue(bytes_value=v)
    if isinstance(v, dict):
        v = list(v.items())
    if isinstance(v, tuple):
        return AnyValue(array_value=ArrayValue(values=[any_value(x) for x in v]))
    return AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=any_value(x)) for k, x in v]))


def record(
    attrs: list[tuple[str, Any]],
    body: Any = None,
    *,
    name: str = "",
    t: int = 1_700_000_000_123_456_789,
    tid: bytes = b"",
    sid: bytes = b"",
) -> LogRecord:
    rec = LogRecord(time_unix_nano=t, event_name=name, trace_id=tid, span_id=sid, severity_number=9)
    rec.attributes.extend(KeyValue(key=k, value=any_value(v)) for k, v in attrs)
    if body is not None:
        rec.body.CopyFrom(body if isinstance(body, AnyValue) else any_value(body))
    return rec


def request(*records: LogRecord, service: str = "scorer", scopes: int = 1) -> bytes:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.extend(
        [
            KeyValue(key="service.name", value=AnyValue(string_value=service)),
            KeyValue(key="service.version", value=AnyValue(string_value="1.2")),
        ]
    )
    per = max(1, math.ceil(len(records) / scopes))
    for i in range(0, len(records), per):
        sl = rl.scope_logs.add()
        sl.scope.name = "driftline.ml"
        sl.log_records.extend(records[i : i + per])
    return req.SerializeToString()


def inference(rid: str, features: Any, *, model: Any = "fraud", prediction: Any = 0.7, **extra: Any) -> LogRecord:
    attrs = [(cv.MODEL, model), (cv.MODEL_VERSION, "v2"), (cv.REQUEST_ID, rid), (cv.PREDICTION, prediction)]
    attrs += [(k, v) for k, v in extra.items() if k != "body"]
    body = extra.get("body")
    if body is None and features is not None:
        body = cv.encode_body({cv.FEATURES: features})
    return record(attrs, body, name=cv.INFERENCE_EVENT)


def label(rid: str, value: Any, model: Any = "fraud") -> LogRecord:
    return record([(cv.REQUEST_ID, rid), (cv.LABEL_VALUE, value), (cv.MODEL, model)], name=cv.LABEL_EVENT)


# --- fixed cases ------------------------------------------------------------------------------------


@needs_native
def test_what_the_benchmark_sends_is_read_by_the_compiled_reader_with_identical_rows() -> None:
    from tests.benchmarks.bench_ml_ingest import build_template

    for structured in (False, True):
        payload, _ = build_template(structured=structured)
        assert assert_same_verdict(payload) == 512
        assert assert_same_rows([payload, payload]) == 2


@needs_native
def test_what_the_sdk_sends_is_read_by_the_compiled_reader() -> None:
    """Records made by the SDK's own functions and the official OTLP encoder."""
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    from driftline.instrumentation import ml

    batches: list[bytes] = []

    class Capture:
        def export(self, batch: Any) -> Any:
            from opentelemetry.sdk._logs.export import LogExportResult

            batches.append(encode_logs(batch).SerializeToString())
            return LogExportResult.SUCCESS

        def shutdown(self) -> None:
            pass

        def force_flush(self, timeout_millis: int = 0) -> bool:
            return True

    provider = LoggerProvider(
        resource=Resource.create({"service.name": "pricing", "deployment.environment.name": "prod"})
    )
    provider.add_log_record_processor(SimpleLogRecordProcessor(Capture()))  # type: ignore[arg-type]
    ml.use_logger_provider(provider)
    try:
        rid = ml.log_inference(
            "pricing",
            "v7",
            {"amount": 12.5, "n": 3, "city": "Zürich", "vip": True, "none": None, "user": {"age": 41, "tier": "gold"}},
            "approve",
            probabilities={"approve": 0.8, "deny": 0.2},
            latency_ms=3.25,
            segment={"country": "CH", "beta": False, "bucket": 7},
        )
        ml.log_inference("pricing", "v7", {"amount": -0.0, "big": 1e300, "tiny": 5e-324}, 1.5)
        ml.log_inference("pricing", "v8", {"bad": math.nan}, False)  # NaN -> null, counted by the SDK
        ml.log_label(rid, "deny")
        ml.log_label(rid, 3.5)
    finally:
        ml.use_logger_provider(None)
    assert len(batches) == 5
    for payload in batches:
        assert assert_same_verdict(payload) is not None, "the compiled reader handed an SDK request back"
    assert assert_same_rows(batches) == len(batches)


REFUSED = [
    inference("r", {"x": 1}, model=""),  # no model
    inference("", {"x": 1}),  # no request id
    inference("r", {"tags": ("a", "b")}),  # an array feature
    inference("r", None, body="not json"),
    inference("r", None, body='{"features": {"x": 1}} trailing'),
    inference("r", None, body='{"features": [1]}'),
    inference("r", None, body='{"features": {"x": [1]}}'),
    inference("r", None, body='{"features": {"x": 1}, "probabilities": {"a": "high"}}'),
    inference("r", None, body='{"features": {"x": 1}, "probabilities": {"a": true}}'),
    inference("r", None, body='{"features": {"": 1}}'),
    inference("r", None, body=json.dumps({"features": {"é" * 257: 1}}, ensure_ascii=False)),
    inference("r", None, body=json.dumps({"features": {f"f{i}": i for i in range(1001)}})),
    inference("r", None, body=json.dumps({"features": {"x": 1}, "segment": {f"s{i}": "a" for i in range(65)}})),
    inference("r", [("x", b"raw")], body=any_value([(cv.FEATURES, [("x", b"raw")])])),
    inference("r", None, body=any_value([(cv.FEATURES, 5)])),
    inference("r", None, body=any_value([(cv.FEATURES, [("a", 1.0)]), (cv.PROBABILITIES, [("p", "x")])])),
    inference("r", None, body=any_value([(cv.FEATURES, [(f"f{i}", float(i)) for i in range(1001)])])),
    inference("r", None, body=any_value([(cv.FEATURES, [("", 1.0)])])),
    inference("r", None, body=any_value(("not", "a", "map"))),
    inference("r", {"x": 1}, **{cv.LATENCY_MS: -1.0}),
    inference("r", {"x": 1}, **{cv.LATENCY_MS: math.nan}),
    inference("r", {"x": 1}, **{cv.LATENCY_MS: "fast"}),
    inference("r", {"x": 1}, **{cv.LATENCY_MS: True}),
    inference("r", {"x": 1}, prediction=("a",)),
    record([(cv.REQUEST_ID, "r"), (cv.LABEL_VALUE, b"x")], name=cv.LABEL_EVENT),
    record([(cv.MODEL, "m"), (cv.REQUEST_ID, "r")], name=cv.INFERENCE_EVENT, tid=b"short"),
    record([("gen_ai.system", "openai")], "hello", name="gen_ai.content", sid=b"123"),
]


@needs_native
@pytest.mark.parametrize("bad", range(len(REFUSED)))
def test_a_request_with_a_refused_record_is_left_to_the_python_rule(bad: int) -> None:
    ok = inference("ok-1", {"amount": 5.0, "country": "FR"})
    payload = request(ok, REFUSED[bad], label("ok-1", True))
    verdict = assert_same_verdict(payload)
    assert verdict is None
    _total, rejected, message = otlp.count_and_check("logs", otlp.parse("logs", payload))
    assert sum(rejected.values()) == 1 and message
    assert assert_same_rows([payload]) == 0


HANDED_BACK_BUT_VALID = {
    "escape in a key": '{"features": {"a\\"b": 1}}',
    "escape in a value": '{"features": {"note": "line\\nbreak"}}',
    "unicode escape": '{"features": {"city": "Z\\u00fcrich"}}',
    "NaN literal": '{"features": {"x": NaN, "y": 2}}',
    "Infinity literal": '{"features": {"x": -Infinity}}',
    "duplicate key": '{"features": {"x": 1, "x": 2}}',
    "duplicate map key": '{"features": {"u": {"a": 1}, "u": {"b": 2}}}',
    "leaf and map collide": '{"features": {"u.a": 1, "u": {"a": 2}}}',
    "map replaced by a leaf": '{"features": {"u": {"a": 1}, "u": 3}}',
    "huge integer": '{"features": {"x": 123456789012345678901234567890}}',
    "overflowing float": '{"features": {"x": 1e400}}',
    "unknown top-level key": '{"features": {"x": 1}, "extra": [1, 2]}',
    "duplicate probability": '{"features": {"x": 1}, "probabilities": {"a": 0.2, "a": 0.8}}',
}


@needs_native
@pytest.mark.parametrize("case", sorted(HANDED_BACK_BUT_VALID))
def test_json_the_compiled_reader_does_not_judge_gets_the_python_rows(case: str) -> None:
    """json.loads semantics it does not copy (escapes, NaN, last-key-wins...) are handed back whole."""
    payload = request(inference("j", None, body=HANDED_BACK_BUT_VALID[case]), label("j", 1.0))
    assert assert_same_rows([payload]) == 0


ACCEPTED_BODIES = {
    "spaces everywhere": ' \n{ "features" : { "a" : 1 , "b" : { "c" : true } } ,\t"segment":{"s":"x"} } \r\n',
    "empty maps": '{"features": {}, "segment": {}, "probabilities": {}}',
    "nulls": '{"features": null, "segment": null, "probabilities": null}',
    "minus zero integer is plus zero": '{"features": {"z": -0, "y": -0.0, "w": 0e0}}',
    "exponents": '{"features": {"a": 1E5, "b": -2.5e-3, "c": 1e+2, "d": 123456789012345678}}',
    "nested empty key": '{"features": {"": {"x": 1}}}',
    "names at the limit": json.dumps({cv.FEATURES: {"é" * 256: 1, "a" * 254: {"b": 2}}}, ensure_ascii=False),
    "a thousand features": json.dumps({cv.FEATURES: {f"f{i}": i * 0.5 for i in range(1000)}}),
    "64 segment keys": json.dumps({cv.FEATURES: {"x": 1}, cv.SEGMENT: {f"s{i}": i for i in range(64)}}),
    "mixed kinds in a row": '{"features": {"a": 1, "b": "x", "c": false, "d": null}, "segment": {"n": 2.5, "t": true}}',
    "probabilities with null and ints": '{"probabilities": {"a": 1, "b": null, "c": 0.25}}',
    "empty object": "{}",
    "underflow, subnormal and to zero": '{"features": {"x": 1e-400, "y": 5e-324, "z": 2.2250738585072011e-308}}',
}


@needs_native
@pytest.mark.parametrize("case", sorted(ACCEPTED_BODIES))
def test_json_bodies_the_compiled_reader_reads_give_identical_rows(case: str) -> None:
    body = ACCEPTED_BODIES[case]
    payload = request(inference("j", None, body=body), inference("k", None, body=body, prediction="yes"))
    assert assert_same_verdict(payload) == 2
    assert assert_same_rows([payload]) == 1


MAP_BODIES = {
    "nested maps": [(cv.FEATURES, [("a", 1), ("u", [("b", True), ("c", [("d", "x")])])])],
    "nonfinite doubles": [
        (cv.FEATURES, [("a", math.nan), ("b", math.inf), ("c", 1.0)]),
        (cv.PROBABILITIES, [("p", -math.inf)]),
    ],
    "int64 extremes": [(cv.FEATURES, [("a", 2**63 - 1), ("b", -(2**63)), ("c", 2**53 + 1)])],
    "probabilities repeat": [(cv.PROBABILITIES, [("p", 0.5), ("p", 0.5), ("q", 3), ("r", None)])],
    "empty parts skipped": [(cv.FEATURES, None), ("unknown", [("a", 1)]), (cv.SEGMENT, [("s", 1.5)])],
}


@needs_native
@pytest.mark.parametrize("case", sorted(MAP_BODIES))
def test_map_bodies_give_identical_rows(case: str) -> None:
    payload = request(inference("m", None, body=any_value(MAP_BODIES[case])))
    assert assert_same_verdict(payload) == 1
    assert assert_same_rows([payload]) == 1


@needs_native
def test_requests_mixing_ml_events_with_other_logs_and_resources() -> None:
    """GenAI content events in the same request go through the Python path, positions intact."""
    other = record(
        [("gen_ai.system", "openai"), ("event.name", "gen_ai.user.message")], "hi", tid=b"\x01" * 16, sid=b"\x02" * 8
    )
    named_by_attribute = record(
        [("event.name", cv.INFERENCE_EVENT), (cv.MODEL, "m2"), (cv.REQUEST_ID, 42), (cv.MODEL_VERSION, 3)],
        cv.encode_body({cv.FEATURES: {"x": 1}}),
    )
    field_wins = record([("event.name", cv.INFERENCE_EVENT)], "not an inference", name="app.other")
    untimed = inference("u", {"x": 2})
    untimed.time_unix_nano = 0
    observed = inference("o", {"x": 3})
    observed.time_unix_nano, observed.observed_time_unix_nano = 0, 1_600_000_000_000_000_000
    req = ExportLogsServiceRequest()
    for service, recs in (("a", [other, named_by_attribute]), ("b", [field_wins, untimed, observed, other])):
        rl = req.resource_logs.add()
        rl.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value=service)))
        for r in recs:
            rl.scope_logs.add().log_records.append(r)
    rl = req.resource_logs.add()  # no resource at all
    rl.scope_logs.add().log_records.extend([label("u", "late"), other])
    payload = req.SerializeToString()
    assert assert_same_verdict(payload) == 8
    assert assert_same_rows([payload, payload]) == 2
    rows, _ = native_rows([payload])
    assert rows["logs"].num_rows == 4 and rows["labels"].num_rows == 1


@needs_native
def test_columns_across_requests_and_models_appear_and_disappear() -> None:
    payloads = [
        request(inference("a", {"x": 1, "y": "s"}), inference("b", {"y": 2, "z": True}, model="other")),
        request(inference("c", {"z": False, "x": 2}), inference("d", {"w": None}), inference("e", {})),
        request(inference("f", None, body=cv.encode_body({cv.SEGMENT: {"k": "v"}}))),
    ]
    assert assert_same_rows(payloads) == 3
