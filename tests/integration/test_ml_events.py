"""Inference and label events end to end: the SDK's functions -> the official OTLP log exporters -> a
receiver on loopback -> Parquet -> the analysis views; bad events refused one by one."""

from __future__ import annotations

import hashlib
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from driftline.analysis.db import connect_ml
from driftline.instrumentation import ml
from tests.conftest import read_dataset
from tests.integration.otlp_payloads import kv

RESOURCE = Resource.create({"service.name": "fraud-scorer", "deployment.environment.name": "prod"})


def _provider(exporter, batch: bool = False) -> LoggerProvider:
    provider = LoggerProvider(resource=RESOURCE)
    processor = BatchLogRecordProcessor(exporter) if batch else SimpleLogRecordProcessor(exporter)
    provider.add_log_record_processor(processor)
    ml.use_logger_provider(provider)
    return provider


def _http(app) -> HttpLogExporter:
    return HttpLogExporter(endpoint=f"http://127.0.0.1:{app.http_port}/v1/logs")


def _grpc(app) -> GrpcLogExporter:
    return GrpcLogExporter(endpoint=f"http://127.0.0.1:{app.grpc_port}", insecure=True)


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_inferences_and_late_labels_reach_the_views(receiver, transport: str) -> None:
    provider = _provider(_grpc(receiver) if transport == "grpc" else _http(receiver), batch=True)
    dropped = ml.stats()["dropped"]
    wide = {f"f{i:03d}": float(i) for i in range(200)}
    early = "req-label-first"
    ml.log_label(early, True)  # the label is flushed before its inference exists
    provider.force_flush()
    assert receiver.flush(10)
    assert read_dataset(receiver.config.data, "labels").num_rows == 1
    rids = [
        ml.log_inference(
            "fraud",
            "v1",
            {
                "amount": 120.5,
                "country": "FR",
                "new_device": True,
                "bad": math.nan,
                "worse": -math.inf,
                "user": {"age": 31},
            },
            True,
            probabilities={"fraud": 0.9, "ok": 0.1},
            latency_ms=4.5,
            segment={"channel": "web"},
            request_id=early,
        ),
        ml.log_inference("fraud", "v1", {"amount": 3.0, "country": "DE"}, False, latency_ms=2.0),
        ml.log_inference("wide", "v3", wide, "class-b", latency_ms=1.0),
    ]
    provider.force_flush()
    assert receiver.flush(10)
    # labels after the inference is flushed: a re-label (latest wins) and one three days later
    ml.log_label(rids[1], False, ts=time.time() + 60)
    ml.log_label(rids[1], True, ts=time.time() + 120)
    ml.log_label(rids[2], "class-a", ts=time.time() + 3 * 86400, model="wide")
    provider.shutdown()
    assert receiver.flush(10)

    con = connect_ml(receiver.config.data)
    rows = {r[0]: r for r in con.execute(
        'SELECT request_id, model, model_version, prediction, prediction_class, latency_ms, nonfinite, '
        '"feature.amount", "feature.country", "feature.new_device", "feature.bad", "feature.user.age", '
        '"segment.channel", probabilities, trace_id, service_name, environment FROM inferences'
    ).fetchall()}  # fmt: skip
    assert set(rows) == set(rids)
    first = rows[early]
    assert first[1:7] == ("fraud", "v1", 1.0, "true", 4.5, 2)  # NaN and -Inf became null and were counted
    assert first[7:13] == (120.5, "FR", True, None, 31.0, "web")
    assert first[13] == {"fraud": 0.9, "ok": 0.1} and first[15:] == ("fraud-scorer", "prod")
    assert rows[rids[2]][3:5] == (None, "class-b")
    wide_row = con.execute("SELECT * FROM inferences WHERE model = 'wide'").fetchall()[0]
    names = [d[0] for d in con.execute("SELECT * FROM inferences LIMIT 0").description]
    wide_values = {n: v for n, v in zip(names, wide_row, strict=True) if n.startswith("feature.f")}
    assert wide_values == {f"feature.{k}": v for k, v in wide.items()}  # 200 features, one column each

    labelled = {
        r[0]: r[1:]
        for r in con.execute("SELECT request_id, label, label_class, label_delay_s FROM inferences_labeled").fetchall()
    }
    assert labelled[early][:2] == (1.0, "true") and labelled[early][2] < 0  # labelled before it was scored
    assert labelled[rids[1]][:2] == (1.0, "true") and 100 < labelled[rids[1]][2] < 140  # the re-label wins
    assert labelled[rids[2]][:2] == (None, "class-a") and labelled[rids[2]][2] > 3 * 86400 - 60
    history = con.execute("SELECT label FROM label_events WHERE request_id = ? ORDER BY time", [rids[1]]).fetchall()
    assert history == [(0.0,), (1.0,)]  # re-labels keep their history

    daily = con.execute(
        "SELECT model_version, inferences, label_coverage, prediction_mean, class_shares, timezone "
        "FROM ml_daily WHERE model = 'fraud'"
    ).fetchall()
    assert daily == [("v1", 2, 1.0, 0.5, {"true": 0.5, "false": 0.5}, "UTC")]
    assert ml.stats()["dropped"] == dropped


def test_ml_daily_counts_days_in_the_configured_time_zone(receiver) -> None:
    provider = _provider(_http(receiver))
    late_evening_utc = datetime(2026, 3, 10, 23, 30, tzinfo=UTC).timestamp()
    ml.log_inference("pricing", "v1", {"x": 1.0}, 10.0, ts=late_evening_utc)
    provider.shutdown()
    assert receiver.flush(10)
    utc = connect_ml(receiver.config.data).execute("SELECT day, timezone FROM ml_daily").fetchall()
    paris = connect_ml(receiver.config.data, "Europe/Paris").execute("SELECT day, timezone FROM ml_daily").fetchall()
    assert utc == [(datetime(2026, 3, 10).date(), "UTC")]
    assert paris == [(datetime(2026, 3, 11).date(), "Europe/Paris")]


def _event(attrs: dict, body: dict | None = None, name: str = "driftline.ml.inference") -> object:
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

    rec = LogRecord(time_unix_nano=time.time_ns(), event_name=name)
    rec.attributes.extend([kv(k, v) for k, v in attrs.items()])
    if body is not None:
        rec.body.CopyFrom(body)
    return rec


def _features(values: dict[str, AnyValue]) -> AnyValue:
    inner = AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in values.items()]))
    return AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key="features", value=inner)]))


def _bad_batch() -> tuple[bytes, list[str]]:
    good = {"driftline.ml.model": "fraud", "driftline.ml.request_id": "ok-1", "driftline.ml.prediction": 0.3}
    records = [
        _event(good, _features({"amount": AnyValue(double_value=5.0)})),
        _event({"driftline.ml.request_id": "no-model"}),
        _event({**good, "driftline.ml.request_id": "nan-latency", "driftline.ml.latency_ms": math.nan}),
        _event(
            {**good, "driftline.ml.request_id": "array"},
            _features({"tags": AnyValue(array_value=ArrayValue(values=[AnyValue(string_value="a")]))}),
        ),
        _event(
            {**good, "driftline.ml.request_id": "too-many"},
            _features({f"f{i}": AnyValue(double_value=1.0) for i in range(1001)}),
        ),
        _event({"driftline.ml.label.value": True}, name="driftline.ml.label"),
        _event({"driftline.ml.request_id": "ok-1", "driftline.ml.label.value": True}, name="driftline.ml.label"),
    ]
    req = ExportLogsServiceRequest()
    sl = req.resource_logs.add().scope_logs.add()
    sl.log_records.extend(records)
    return req.SerializeToString(), ["ml_no_model", "ml_bad_latency", "ml_unknown_type", "ml_too_many_features"]


def _metric(app, name: str, **labels: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{app.http_port}/metrics", timeout=5).text
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.split()[-1])
    raise AssertionError(f"{name}{{{want}}} not in /metrics")


def test_bad_events_are_refused_one_by_one_over_http(receiver) -> None:
    body, codes = _bad_batch()
    resp = httpx.post(
        f"http://127.0.0.1:{receiver.http_port}/v1/logs",
        content=body,
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert resp.status_code == 200
    answer = ExportLogsServiceResponse.FromString(resp.content)
    assert answer.partial_success.rejected_log_records == 5
    assert "without driftline.ml.model" in answer.partial_success.error_message
    for code in codes:
        assert _metric(receiver, "driftline_rejected_items_total", signal="logs", reason=code) == 1
    assert _metric(receiver, "driftline_rejected_items_total", signal="logs", reason="ml_no_request_id") == 1
    assert receiver.flush(10)
    inferences = read_dataset(receiver.config.data, "inferences").to_pylist()
    labels = read_dataset(receiver.config.data, "labels").to_pylist()
    assert [r["request_id"] for r in inferences] == ["ok-1"] and inferences[0]["feature.amount"] == 5.0
    assert [r["request_id"] for r in labels] == ["ok-1"]


def test_bad_events_are_refused_one_by_one_over_grpc(receiver) -> None:
    import grpc

    body, _ = _bad_batch()
    with grpc.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
        call = channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export")
        answer = ExportLogsServiceResponse.FromString(call(body, timeout=10))
        assert answer.partial_success.rejected_log_records == 5
        only_bad = ExportLogsServiceRequest()
        only_bad.resource_logs.add().scope_logs.add().log_records.append(_event({"driftline.ml.request_id": "x"}))
        with pytest.raises(grpc.RpcError) as refused:
            call(only_bad.SerializeToString(), timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "driftline.ml.model" in refused.value.details()
    assert receiver.flush(10)
    assert read_dataset(receiver.config.data, "inferences").column("request_id").to_pylist() == ["ok-1"]


def test_a_resent_request_is_one_inference_in_the_views(receiver) -> None:
    """An SDK retry after a lost acknowledgement sends the same events again."""
    record = _event(
        {"driftline.ml.model": "fraud", "driftline.ml.request_id": "r-1", "driftline.ml.prediction": True},
        _features({"amount": AnyValue(double_value=5.0)}),
    )
    req = ExportLogsServiceRequest()
    req.resource_logs.add().scope_logs.add().log_records.append(record)
    for _ in range(2):
        assert httpx.post(
            f"http://127.0.0.1:{receiver.http_port}/v1/logs",
            content=req.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        ).is_success
        assert receiver.flush(10)
    assert read_dataset(receiver.config.data, "inferences").num_rows == 2
    assert connect_ml(receiver.config.data).execute("SELECT count(*) FROM inferences").fetchone()[0] == 1


def test_protected_and_scrubbed_features_never_leave_in_clear(receiver, monkeypatch) -> None:
    monkeypatch.setenv("DRIFTLINE_SCRUB_PII", "true")
    provider = _provider(_http(receiver))
    ml.protect("kyc", hash=["email"], drop=["user"])
    try:
        ml.log_inference(
            "kyc",
            "v1",
            {"email": "jane@example.com", "note": "call +33 6 12 34 56 78 now", "user": {"ssn": "123-45-6789"}},
            False,
        )
    finally:
        ml.protect("kyc")
    provider.shutdown()
    assert receiver.flush(10)
    row = read_dataset(receiver.config.data, "inferences").to_pylist()[0]
    assert row["feature.email"] == hashlib.sha256(b"jane@example.com").hexdigest()[:16]
    assert "+33" not in row["feature.note"] and "[PHONE]" in row["feature.note"]
    assert not [k for k in row if k.startswith("feature.user")]
    assert "jane@example.com" not in str(row) and "123-45-6789" not in str(row)


def test_label_a_day_later_in_another_partition_still_joins(receiver) -> None:
    provider = _provider(_http(receiver))
    yesterday = (datetime.now(UTC) - timedelta(days=1)).timestamp()
    rid = ml.log_inference("fraud", "v2", {"amount": 1.0}, False, ts=yesterday)
    ml.log_label(rid, True)
    provider.shutdown()
    assert receiver.flush(10)
    hours = {p.parent.name + "/" + p.parent.parent.name for p in Path(receiver.config.data).rglob("*.parquet")}
    assert len(hours) == 2
    (delay,) = connect_ml(receiver.config.data).execute("SELECT label_delay_s FROM inferences_labeled").fetchone()
    assert 86_000 < delay < 86_800


def test_json_text_bodies_follow_the_same_rules_as_maps(receiver) -> None:
    ok = {"driftline.ml.model": "fraud", "driftline.ml.request_id": "j-1"}
    bodies = {
        "j-1": '{"features": {"amount": 5, "user": {"vip": true}, "bad": NaN}, "segment": {"country": "FR"}}',
        "j-2": '{"features": {"tags": ["a"]}}',
        "j-3": "not json",
        "j-4": '{"features": {"x": 1}, "probabilities": {"fraud": "high"}}',
    }
    req = ExportLogsServiceRequest()
    sl = req.resource_logs.add().scope_logs.add()
    for rid, text in bodies.items():
        sl.log_records.append(_event({**ok, "driftline.ml.request_id": rid}, AnyValue(string_value=text)))
    resp = httpx.post(
        f"http://127.0.0.1:{receiver.http_port}/v1/logs",
        content=req.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    answer = ExportLogsServiceResponse.FromString(resp.content)
    assert answer.partial_success.rejected_log_records == 3
    assert "feature 'tags' is array" in answer.partial_success.error_message
    assert _metric(receiver, "driftline_rejected_items_total", signal="logs", reason="ml_bad_body") == 1
    assert _metric(receiver, "driftline_rejected_items_total", signal="logs", reason="ml_unknown_type") == 2
    assert receiver.flush(10)
    (row,) = read_dataset(receiver.config.data, "inferences").to_pylist()
    assert (row["request_id"], row["feature.amount"], row["feature.user.vip"], row["feature.bad"]) == (
        "j-1",
        5.0,
        True,
        None,
    )
    assert row["nonfinite"] == 1 and row["segment.country"] == "FR"
