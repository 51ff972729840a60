"""The agent-semantics API (decisions, signals, failures, memory, the final answer): what each call
records, its bounds, and the views the analysis reads them through (normalizer → Parquet → DuckDB)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from driftline.analysis.db import connect
from driftline.collector import otlp
from driftline.collector.normalize.normalizer import NormalizeOptions, SpanNormalizer
from driftline.collector.sink.parquet import ParquetSink
from driftline.instrumentation import agent as agent_mod
from driftline.instrumentation import agent_run, declare, semantics, settings, tool_call


@pytest.fixture(autouse=True)
def _fresh_labels():
    semantics.LABELS.reset()
    agent_mod.configure(settings.Settings())
    yield
    semantics.LABELS.reset()
    agent_mod.configure(None)


def _events(span) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for e in span.events:
        out.setdefault(e.name, []).append(dict(e.attributes))
    return out


def _one_run(exporter) -> None:
    with agent_run("support", version="v2") as run:
        run.decision("tool_selection", "cache", candidates=["cache", "api"], reason="cheaper", confidence=0.8)
        with tool_call("lookup_order", arguments={"order_id": 42}):
            run.failure("tool", "timeout", message="order service timed out after 5 s")
            run.signal("tool", "tool_success", False)
        run.memory_read("customer:7", None, memory_type="profile")
        run.memory_write("customer:7", {"tier": "gold"}, memory_type="profile")
        run.memory_write("customer:7", {"tier": "gold", "vip": True}, memory_type="profile")
        run.signal("output", "schema_valid", True, weight=0.5)
        run.final("Order 42 ships Monday.")


def test_each_call_records_an_event_on_the_step_where_it_happened(spans) -> None:
    _provider, exporter = spans
    _one_run(exporter)
    finished = {s.name: s for s in exporter.get_finished_spans()}
    run_events = _events(finished["invoke_agent support"])
    tool_events = _events(finished["execute_tool lookup_order"])
    assert run_events["driftline.decision"] == [
        {
            "driftline.decision.type": "tool_selection",
            "driftline.decision.selected": "cache",
            "driftline.decision.candidates": ("cache", "api"),
            "driftline.decision.reason": "cheaper",
            "driftline.decision.confidence": 0.8,
        }
    ]
    (failure,) = tool_events["driftline.failure"]  # inside the tool call: the tool's span, linked to it
    assert failure["driftline.failure.type"] == "tool" and failure["driftline.failure.code"] == "timeout"
    assert failure["driftline.failure.step"] == format(finished["execute_tool lookup_order"].context.span_id, "016x")
    assert "order service" not in str(failure) and len(failure["driftline.failure.message.hash"]) == 64
    assert tool_events["driftline.signal"][0]["driftline.signal.value"] is False
    (read,) = run_events["driftline.memory.read"]
    assert read["driftline.memory.found"] is False and "driftline.memory.value.hash" not in read
    writes = run_events["driftline.memory.write"]
    assert [w["driftline.memory.overwrite"] for w in writes] == [False, True]
    assert "gold" not in str(writes) and writes[0]["driftline.memory.type"] == "profile"
    (final,) = run_events["driftline.final_answer"]
    assert final["driftline.final_answer.hash"] == hashlib.sha256(b"Order 42 ships Monday.").hexdigest()
    assert "driftline.final_answer.text" not in final  # no content capture


def test_the_answer_text_is_sent_only_with_content_capture(spans) -> None:
    _provider, exporter = spans
    agent_mod.configure(settings.load(True))
    with agent_run("support") as run:
        run.final("Order 42 ships Monday.")
    (span,) = exporter.get_finished_spans()
    assert _events(span)["driftline.final_answer"][0]["driftline.final_answer.text"] == "Order 42 ships Monday."


def test_labels_are_bounded_and_bad_values_refused(spans, caplog) -> None:
    _provider, exporter = spans
    declare("decision.reason", ["cheaper", "faster"])
    with caplog.at_level(logging.WARNING, logger="driftline.instrumentation.semantics"), agent_run("support") as run:
        run.decision("tool_selection", "api", reason="vibes")
        for i in range(semantics.MAX_DISTINCT + 5):
            run.signal("output", f"code-{i}", True)
        with pytest.raises(ValueError, match="confidence"):
            run.decision("tool_selection", "api", confidence=1.5)
        with pytest.raises(ValueError, match="failure type"):
            run.failure("network", "timeout")
    (span,) = exporter.get_finished_spans()
    events = _events(span)
    assert events["driftline.decision"][0]["driftline.decision.reason"] == semantics.OTHER
    codes = [e["driftline.signal.code"] for e in events["driftline.signal"]]
    assert len(set(codes) - {semantics.OTHER}) == semantics.MAX_DISTINCT and codes[-1] == semantics.OTHER
    assert caplog.text.count("recorded as (other)") == 2  # once per field


def test_the_views_read_them_back_through_the_receivers_normalizer(spans, tmp_path: Path) -> None:
    _provider, exporter = spans
    _one_run(exporter)
    norm = SpanNormalizer(NormalizeOptions())
    norm.add_request(otlp.parse("traces", encode_spans(exporter.get_finished_spans()).SerializeToString()), 1)
    ParquetSink(str(tmp_path)).write("spans", norm.table(), norm.hours, "rx-000000000001")
    con = connect(str(tmp_path))
    assert con.execute(
        "SELECT agent_version, decision_type, selected, candidates, reason, confidence FROM decisions"
    ).fetchall() == [("v2", "tool_selection", "cache", ["cache", "api"], "cheaper", 0.8)]
    assert con.execute("SELECT code, value, weight FROM signals ORDER BY code").fetchall() == [
        ("schema_valid", True, 0.5),
        ("tool_success", False, 1.0),
    ]
    ((ftype, code, step, span_name),) = con.execute(
        "SELECT failure_type, code, step_span_id, span_name FROM failures"
    ).fetchall()
    assert (ftype, code, span_name) == ("tool", "timeout", "execute_tool lookup_order")
    assert con.execute("SELECT name FROM spans WHERE span_id = ?", [step]).fetchone() == ("execute_tool lookup_order",)
    assert con.execute("SELECT op, key, memory_type, found, overwrite FROM memory_ops ORDER BY time").fetchall() == [
        ("read", "customer:7", "profile", False, None),
        ("write", "customer:7", "profile", None, False),
        ("write", "customer:7", "profile", None, True),
    ]
    # per run, in time order
    assert con.execute("SELECT decisions, signals, failures, memory_reads, memory_writes FROM runs").fetchall() == [
        (["tool_selection=cache"], ["tool_success=false", "schema_valid=true"], ["tool/timeout"], 1, 2)
    ]
    # typed in their own column, not repeated in the span's events JSON
    assert con.execute("SELECT count(*) FROM spans WHERE attributes['driftline.events'] IS NOT NULL").fetchone() == (0,)
    (when,) = con.execute("SELECT min(time) FROM agent_events").fetchone()
    (start,) = con.execute("SELECT min(start_time) FROM spans").fetchone()
    assert when >= start
    # the README's query
    from click.testing import CliRunner

    from driftline.analysis.cli import cli

    query = "select agent_version, decision_type, selected, count(*) from decisions group by all"
    out = CliRunner().invoke(cli, ["sql", query, "--data", str(tmp_path), "--format", "csv"])
    assert out.exit_code == 0 and "v2,tool_selection,cache,1" in out.output, out.output
