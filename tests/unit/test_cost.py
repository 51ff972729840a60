"""Cost of model calls and runs: reported cost first, else the versioned pricing table."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from driftline.analysis import cost
from driftline.analysis.db import connect
from driftline.collector import otlp
from driftline.collector.normalize.normalizer import NormalizeOptions, SpanNormalizer
from driftline.collector.sink.parquet import ParquetSink
from tests.integration.otlp_payloads import kv
from tests.unit.test_runs_view import _span

T = "d" * 32


def _write(root: Path) -> None:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", "svc"))
    ss = rs.scope_spans.add()
    _span(
        ss,
        T,
        "d000000000000001",
        None,
        "invoke_agent a",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "a"},
        0,
        100,
    )
    calls = {
        "d000000000000002": {
            "gen_ai.provider.name": "openai",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.cache_read.input_tokens": 400,
            "gen_ai.usage.output_tokens": 100,
        },
        "d000000000000003": {
            "gen_ai.provider.name": "anthropic",
            "gen_ai.response.model": "claude-3-5-sonnet-20241022",
            "gen_ai.usage.input_tokens": 75,
            "gen_ai.usage.cache_read.input_tokens": 30,
            "gen_ai.usage.cache_creation.input_tokens": 5,
            "gen_ai.usage.output_tokens": 12,
        },
        "d000000000000004": {
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.cost": 0.5,
        },
        "d000000000000005": {
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "claude-3-haiku",
            "gen_ai.usage.input_tokens": 10,
        },
        "d000000000000006": {"gen_ai.request.model": "mystery-model", "gen_ai.usage.input_tokens": 10},
    }
    for i, (sid, attrs) in enumerate(calls.items()):
        _span(ss, T, sid, "d000000000000001", "chat", {"gen_ai.operation.name": "chat", **attrs}, 10 + i, 5)
    norm = SpanNormalizer(NormalizeOptions())
    norm.add_request(otlp.parse("traces", req.SerializeToString()), 1)
    ParquetSink(str(root)).write("spans", norm.table(), norm.hours, "rx-000000000001")


def test_call_and_run_costs(tmp_path: Path) -> None:
    _write(tmp_path)
    con = connect(str(tmp_path))
    rows = dict(
        (sid, (c, src))
        for sid, c, src in con.execute("SELECT span_id, cost, cost_source FROM llm_call_costs").fetchall()
    )
    openai_cost = (600 * 2.50 + 400 * 1.25 + 100 * 10.00) / 1e6  # cached tokens are part of OpenAI's input
    anthropic_cost = (40 * 3.00 + 30 * 0.30 + 5 * 3.75 + 12 * 15.00) / 1e6
    assert rows["d000000000000002"] == (pytest.approx(openai_cost), "pricing")
    assert rows["d000000000000003"] == (pytest.approx(anthropic_cost), "pricing")
    assert rows["d000000000000004"] == (pytest.approx(0.5), "reported")
    assert rows["d000000000000005"] == (None, None)  # provider and model disagree: not priced
    assert rows["d000000000000006"] == (None, None)
    run_cost = con.execute("SELECT cost FROM runs").fetchone()[0]
    assert run_cost == pytest.approx(openai_cost + anthropic_cost + 0.5)


def test_user_pricing_file_overrides(tmp_path: Path) -> None:
    _write(tmp_path / "data")
    prices = tmp_path / "prices.toml"
    prices.write_text(
        '[meta]\nversion = "contract-1"\n[[price]]\nprovider = "openai"\nmodel = "gpt-4o"\ninput = 1.0\noutput = 2.0\n'
    )
    con = connect(str(tmp_path / "data"), pricing=prices)
    (value,) = con.execute("SELECT cost FROM llm_call_costs WHERE span_id = 'd000000000000002'").fetchone()
    assert value == pytest.approx((600 * 1.0 + 400 * 1.0 + 100 * 2.0) / 1e6)  # cached at the input rate
    assert cost.load_prices(prices).version == "contract-1"


def test_bad_pricing_files_are_explained(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[price]]\nprovider = "openai"\nmodel = "x"\n')
    with pytest.raises(ValueError, match="lacks input, output"):
        cost.load_prices(bad)
    with pytest.raises(ValueError, match="cannot read"):
        cost.load_prices(tmp_path / "missing.toml")


def test_default_table_and_delta() -> None:
    table = cost.load_prices()
    assert table.currency == "USD" and any(r["model"] == "gpt-4o" for r in table.rows)
    assert cost.delta_per_10k_runs(0.001, 0.0015) == pytest.approx(5.0)
    assert cost.delta_per_10k_runs(None, 0.1) is None
