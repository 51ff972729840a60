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


def _write_calls(root: Path, calls: list[dict], input_tokens: int | None = 1_000_000) -> None:
    """One agent run whose model calls carry ``calls`` (attributes each)."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", "svc"))
    ss = rs.scope_spans.add()
    root_attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "a"}
    _span(ss, T, "e000000000000000", None, "invoke_agent a", root_attrs, 0, 100)
    for i, attrs in enumerate(calls):
        base = {"gen_ai.usage.input_tokens": input_tokens} if input_tokens is not None else {}
        if not any(k.startswith(("openinference", "ai.")) for k in attrs):
            base["gen_ai.operation.name"] = "chat"
        attrs = {**base, **attrs}
        _span(ss, T, f"e{i + 1:015x}", "e000000000000000", "chat", attrs, 10 + i, 5)
    norm = SpanNormalizer(NormalizeOptions())
    norm.add_request(otlp.parse("traces", req.SerializeToString()), 1)
    ParquetSink(str(root)).write("spans", norm.table(), norm.hours, "rx-000000000001")


# (provider, model) -> the table model that prices it in the shipped table, or None: unpriced
MATCHES = [
    ("openai", "gpt-4.1-nano", "gpt-4.1-nano"),
    ("openai", "gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
    ("openai", "gpt-4.1-2025-04-14", "gpt-4.1"),
    ("openai", "o3-mini", "o3-mini"),
    ("openai", "o3-pro-2025-06-10", "o3-pro"),
    ("openai", "o3-2025-04-16", "o3"),
    ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("openai", "openai/gpt-4o-mini", "gpt-4o-mini"),
    ("openai", "gpt-4o-audio-preview", None),  # another model, not a snapshot of gpt-4o
    ("openai", "gpt-4o-realtime", None),
    ("azure.ai.openai", "gpt-4o", "gpt-4o"),
    ("anthropic", "claude-sonnet-4-20250514", "claude-sonnet-4"),
    ("anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
    ("anthropic", "claude-3-5-haiku-latest", "claude-3-5-haiku"),
    ("gcp.vertex_ai", "claude-3-5-sonnet@20240620", "claude-3-5-sonnet"),
    ("aws.bedrock", "us.anthropic.claude-3-5-sonnet-20240620-v1:0", "claude-3-5-sonnet"),
    ("gcp.gemini", "gemini-2.5-flash-lite", "gemini-2.5-flash-lite"),
    ("gcp.gemini", "gemini-2.5-flash-preview-05-20", "gemini-2.5-flash"),
    ("gcp.gemini", "models/gemini-2.0-flash-001", "gemini-2.0-flash"),
    ("mistral_ai", "mistral-large-2411", "mistral-large"),
    ("mistral_ai", "mistral-small-latest", "mistral-small"),
    ("openai", "claude-3-haiku", None),  # provider and model disagree
    (None, "mystery-model-2024-01-01", None),
]


def test_models_are_priced_exactly_or_by_snapshot_suffix_never_by_a_neighbour(tmp_path: Path) -> None:
    table = cost.load_prices()
    calls = [{"gen_ai.response.model": m, **({"gen_ai.provider.name": p} if p else {})} for p, m, _ in MATCHES]
    _write_calls(tmp_path, calls)
    con = connect(str(tmp_path))
    sql = {
        int(sid[1:], 16) - 1: (c, src)
        for sid, c, src in con.execute("SELECT span_id, cost, cost_source FROM llm_call_costs").fetchall()
    }
    for i, (provider, model, expected) in enumerate(MATCHES):
        row = cost.price_row(model, provider, table)
        assert (row["model"] if row else None) == expected, model
        price, source = sql[i]
        if expected is None:
            assert (price, source) == (None, None), model
        else:  # one million input tokens cost exactly the row's input price
            assert source == "pricing" and price == pytest.approx(row["input"]), model
    unpriced = con.execute("SELECT unpriced_models FROM runs").fetchone()[0]
    assert set(unpriced) == {"gpt-4o-audio-preview", "gpt-4o-realtime", "claude-3-haiku", "mystery-model-2024-01-01"}


def test_a_model_missing_from_a_users_table_is_unpriced_not_priced_as_its_prefix(tmp_path: Path) -> None:
    """gpt-4.1-nano must not cost what gpt-4.1 costs (~20x), nor o3-mini what o3 costs."""
    _write_calls(
        tmp_path / "data",
        [
            {"gen_ai.provider.name": "openai", "gen_ai.response.model": m}
            for m in ("gpt-4.1-nano", "o3-mini", "gpt-4.1")
        ],
    )
    prices = tmp_path / "prices.toml"
    prices.write_text(
        '[[price]]\nprovider = "openai"\nmodel = "gpt-4.1"\ninput = 2.0\noutput = 8.0\n'
        '[[price]]\nprovider = "openai"\nmodel = "o3"\ninput = 2.0\noutput = 8.0\n'
    )
    con = connect(str(tmp_path / "data"), pricing=prices)
    rows = con.execute("SELECT model, cost_source FROM llm_call_costs ORDER BY model").fetchall()
    assert rows == [("gpt-4.1", "pricing"), ("gpt-4.1-nano", None), ("o3-mini", None)]
    assert con.execute("SELECT calls_unpriced, unpriced_models FROM runs").fetchone() == (
        2,
        ["gpt-4.1-nano", "o3-mini"],
    )


def test_shipped_table_is_dated_sourced_and_covers_the_current_families() -> None:
    table = cost.load_prices()
    text = cost.default_pricing_file().read_text()
    assert table.version == "2025-11"
    for source in ("openai.com", "anthropic.com", "ai.google.dev", "mistral.ai"):
        assert source in text
    models = {r["model"] for r in table.rows}
    for family in (
        "gpt-5",
        "gpt-4.1-nano",
        "o3-mini",
        "o4-mini",
        "claude-sonnet-4-5",
        "claude-haiku-4-5",
        "claude-opus-4-1",
        "gemini-2.5-pro",
        "gemini-2.5-flash",
        "mistral-large",
        "mistral-small",
    ):
        assert family in models


def test_reported_costs_in_other_currencies_are_converted_or_left_out_never_summed(tmp_path: Path) -> None:
    """1 EUR + 1 USD is not 2 of anything: a reported cost counts in the table's currency, converted
    with the pricing file's [exchange] rate; without a rate it is not used (the call is priced from
    the table instead, or unpriced)."""
    calls = [
        {"gen_ai.provider.name": "openai", "gen_ai.response.model": "mystery-a", "gen_ai.usage.cost": 1.0},
        {
            "gen_ai.provider.name": "openai",
            "gen_ai.response.model": "mystery-b",
            "gen_ai.usage.cost": 1.0,
            "gen_ai.usage.cost.currency": "EUR",
        },
        {
            "gen_ai.provider.name": "openai",
            "gen_ai.response.model": "gpt-4o-mini",
            "gen_ai.usage.cost": 1.0,
            "gen_ai.usage.cost.currency": "JPY",
        },
    ]
    _write_calls(tmp_path / "data", calls)
    con = connect(str(tmp_path / "data"))
    rows = con.execute("SELECT model, cost, cost_source FROM llm_call_costs ORDER BY model").fetchall()
    assert rows[0] == ("gpt-4o-mini", pytest.approx(0.15), "pricing")  # JPY unconvertible: list price
    assert rows[1] == ("mystery-a", 1.0, "reported")
    assert rows[2] == ("mystery-b", None, None)  # EUR without a rate: not summed as dollars
    assert con.execute("SELECT cost, cost_reported FROM runs").fetchone() == (pytest.approx(1.15), 1.0)
    prices = tmp_path / "prices.toml"
    prices.write_text(
        '[meta]\ncurrency = "USD"\n[exchange]\nEUR = 1.10\nJPY = 0.0067\n'
        '[[price]]\nprovider = "openai"\nmodel = "gpt-4o-mini"\ninput = 0.15\noutput = 0.6\n'
    )
    con = connect(str(tmp_path / "data"), pricing=prices)
    costs = dict(con.execute("SELECT model, cost FROM llm_call_costs").fetchall())
    assert costs == {"mystery-a": 1.0, "mystery-b": pytest.approx(1.10), "gpt-4o-mini": pytest.approx(0.0067)}
    bad = tmp_path / "bad.toml"
    bad.write_text('[exchange]\nEUR = "a lot"\n')
    with pytest.raises(ValueError, match=r"\[exchange\] EUR must be a positive number"):
        cost.load_prices(bad)


@pytest.mark.parametrize(
    "convention_attrs, input_tokens, expected_uncached",
    [
        # OpenTelemetry GenAI: input_tokens counts the cache reads and writes
        ({"gen_ai.usage.cache_read.input_tokens": 400, "gen_ai.usage.cache_creation.input_tokens": 100}, 1000, 500),
        # OpenInference: llm.token_count.prompt counts them too
        (
            {
                "openinference.span.kind": "LLM",
                "llm.token_count.prompt_details.cache_read": 400,
                "llm.token_count.prompt_details.cache_write": 100,
            },
            1000,
            500,
        ),
        # Vercel AI SDK: the provider's own count (Anthropic's excludes the cache)
        ({"ai.operationId": "ai.generateText.doGenerate", "ai.usage.cachedInputTokens": 400}, 1000, 1000),
        # a count below its cache tokens cannot include them, whatever the convention
        ({"gen_ai.usage.cache_read.input_tokens": 800, "gen_ai.usage.cache_creation.input_tokens": 400}, 1000, 1000),
    ],
)
def test_uncached_input_follows_each_conventions_meaning_of_input_tokens(
    tmp_path: Path, convention_attrs: dict, input_tokens: int, expected_uncached: int
) -> None:
    attrs = {"gen_ai.provider.name": "openai", "gen_ai.response.model": "gpt-4o", **convention_attrs}
    if "openinference.span.kind" in attrs:
        attrs.update({"llm.model_name": "gpt-4o", "llm.provider": "openai", "llm.token_count.prompt": input_tokens})
    elif "ai.operationId" in attrs:
        attrs.update(
            {"ai.model.id": "gpt-4o", "ai.model.provider": "openai.chat", "ai.usage.promptTokens": input_tokens}
        )
    else:
        attrs["gen_ai.usage.input_tokens"] = input_tokens
    _write_calls(tmp_path, [attrs], input_tokens=None)
    con = connect(str(tmp_path))
    (row,) = con.execute(
        "SELECT input_tokens, cache_read_tokens, cache_write_tokens, convention, "
        "uncached_input(input_tokens, cache_read_tokens, cache_write_tokens, convention) FROM llm_calls"
    ).fetchall()
    assert row[0] == input_tokens and row[4] == expected_uncached, row
    assert row[1] is not None, "the cache tokens were read"
    expected = "vercel_ai" if "ai.operationId" in attrs else "openinference" if "llm.model_name" in attrs else "genai"
    assert row[3] == expected
