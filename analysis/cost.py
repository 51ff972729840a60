"""Stage 6: what LLM calls and runs cost — provider-reported when a span says, else from prices.

Why a versioned table in the database: cost is a join, not a loop. The pricing file is loaded into a
``prices`` table; ``llm_call_costs`` prices every model call (the provider-reported cost wins; else
uncached input, cached input, cache writes and output at their own rates), and ``runs`` sums it.

Why an exact match (or a snapshot suffix) and not a prefix: ``gpt-4.1-nano`` starts with ``gpt-4.1``
and costs a twentieth of it; ``o3-mini`` and ``o3-pro`` start with ``o3``. A call's model is priced by
a table model only when it *is* that model, or that model followed by nothing but a snapshot suffix
(``-2024-08-06``, ``-20250514``, ``-001``, ``-2411``, ``-latest``, ``@20240620``, Bedrock's ``-v1:0``),
after dropping a hosting namespace (``openai/``, ``models/``, ``us.anthropic.``). Anything else is
*unpriced* and listed as such — a figure left out is better than a confidently wrong one.

Input-token conventions differ (OpenAI's prompt tokens include cached ones; Anthropic's input tokens
do not): the schema says, per convention, whether ``input_tokens`` holds the cache reads and
writes, and only then are they taken out before the uncached rate applies.

A provider-reported cost counts in the table's currency: a cost in another currency is converted
with the rate the pricing file gives (``[exchange]``), and without one it is not used (the call is
priced from the table, or unpriced) — costs in different currencies are never summed as one.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driftline.analysis.sql_literals import literal
from driftline.collector.schema import DEFAULT_COST_CURRENCY, INPUT_TOKENS_EXCLUDE_CACHE

PRICING_DIR = Path(__file__).parent / "pricing"


@dataclass(frozen=True)
class PriceTable:
    version: str
    currency: str
    rows: list[dict[str, Any]]
    # other currency -> its value in ``currency`` (``[exchange]`` of the pricing file: EUR = 1.08)
    rates: dict[str, float] = field(default_factory=dict)


def default_pricing_file() -> Path:
    return sorted(PRICING_DIR.glob("*.toml"))[-1]


def load_prices(path: str | Path | None = None) -> PriceTable:
    """Read a pricing file; every entry needs provider, model, input and output."""
    file = Path(path) if path else default_pricing_file()
    try:
        doc = tomllib.loads(file.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read pricing file {file}: {exc}") from exc
    rows = []
    for i, entry in enumerate(doc.get("price", [])):
        missing = [k for k in ("provider", "model", "input", "output") if k not in entry]
        if missing:
            raise ValueError(f"{file}: price entry {i + 1} lacks {', '.join(missing)}")
        rows.append(
            {
                "provider": str(entry["provider"]).lower(),
                "model": str(entry["model"]),
                "input": float(entry["input"]),
                "cached_input": float(entry.get("cached_input", entry["input"])),
                "cache_write": float(entry.get("cache_write", entry["input"])),
                "output": float(entry["output"]),
            }
        )
    meta = doc.get("meta", {})
    rates = {}
    for code, rate in doc.get("exchange", {}).items():
        if not isinstance(rate, int | float) or isinstance(rate, bool) or rate <= 0:
            raise ValueError(f"{file}: [exchange] {code} must be a positive number (1 {code} in the table's currency)")
        rates[str(code).upper()] = float(rate)
    return PriceTable(str(meta.get("version", file.stem)), str(meta.get("currency", "USD")).upper(), rows, rates)


# A hosting namespace in front of the model name: a path (openai/gpt-4o, models/gemini-2.5-pro) or a
# Bedrock region/vendor prefix (us.anthropic.claude-...).
MODEL_NAMESPACE = r"^(.*/)?((us|eu|apac|global)\.)?((anthropic|mistral|meta|cohere|amazon|google)\.)?"
# What may follow a table model in a call's model name for the table's price to apply: snapshot dates
# and version tags only — never a word (mini, nano, pro, audio...) that names another model.
SNAPSHOT_SUFFIX = (
    r"(-\d{4}-\d{2}-\d{2}|-\d{8}|-\d{4}|-\d{3}|-latest|-preview(-\d{2}-\d{2})?|-v\d+(:\d+)?|@[a-z0-9._-]+)*"
)
# Provider names as instrumentations write them (first dotted part, lower case) -> table provider.
PROVIDER_ALIASES: dict[str, tuple[str, ...]] = {
    "openai": ("openai", "azure", "azure_openai"),
    "anthropic": ("anthropic", "aws", "gcp", "vertex_ai", "vertexai"),
    "google": ("google", "gcp", "gemini", "vertex_ai", "vertexai", "google_genai"),
    "mistral": ("mistral", "mistral_ai", "mistralai"),
}


def model_key(model: str) -> str:
    """A call's model name without its hosting namespace, lower case (what the table is matched on)."""
    return re.sub(MODEL_NAMESPACE, "", model.lower(), count=1)


def price_row(model: str | None, provider: str | None, table: PriceTable) -> dict[str, Any] | None:
    """The table row that prices ``model`` (the longest table model it is, up to a snapshot suffix), or
    None: unpriced. The SQL view applies the same rule through the macros of ``register_prices``."""
    if not model:
        return None
    key = model_key(model)
    provider_key = provider.lower().split(".")[0] if provider else None
    best = None
    for row in table.rows:
        name = row["model"].lower()
        if provider_key is not None and provider_key not in _aliases(row["provider"]):
            continue
        fits = key.startswith(name) and re.fullmatch(SNAPSHOT_SUFFIX, key[len(name) :])
        if fits and (best is None or len(name) > len(best["model"])):
            best = row
    return best


def _aliases(provider: str) -> tuple[str, ...]:
    return PROVIDER_ALIASES.get(provider, (provider,))


def register_prices(con: Any, table: PriceTable) -> None:
    """Create the ``prices`` table the cost views join against, the provider aliases, and the
    ``price_matches`` macro that holds the matching rule for SQL."""
    import pyarrow as pa

    aliases = sorted({(alias, p) for p in {r["provider"] for r in table.rows} for alias in (*_aliases(p), p)})
    columns = ("provider", "model", "input", "cached_input", "cache_write", "output")
    rates = {**table.rates, table.currency: 1.0}
    tables = {
        "currency_rates": pa.table(
            {"currency": pa.array(list(rates), pa.string()), "rate": pa.array(list(rates.values()), pa.float64())}
        ),
        "prices": pa.table(
            {
                c: pa.array([r[c] for r in table.rows], pa.string() if i < 2 else pa.float64())
                for i, c in enumerate(columns)
            }
        ),
        "price_provider_aliases": pa.table(
            {
                "alias": pa.array([a for a, _ in aliases], pa.string()),
                "provider": pa.array([p for _, p in aliases], pa.string()),
            }
        ),
    }
    for name, rows in tables.items():  # one statement per table, not one INSERT per row
        con.register(f"_{name}_rows", rows)
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _{name}_rows")
        con.unregister(f"_{name}_rows")
    excluding = ", ".join(literal(c) for c in INPUT_TOKENS_EXCLUDE_CACHE) or "NULL"
    # the uncached input tokens of a call: its input minus its cache tokens where the convention
    # counts them in the input (and the count is large enough to hold them), else the input as is
    con.execute(
        "CREATE OR REPLACE MACRO uncached_input(n, cache_read, cache_write, conv) AS CASE "
        "WHEN conv IN (" + excluding + ") OR coalesce(n, 0) < coalesce(cache_read, 0) + coalesce(cache_write, 0) "
        "THEN coalesce(n, 0) ELSE coalesce(n, 0) - coalesce(cache_read, 0) - coalesce(cache_write, 0) END"
    )
    # macros, like views, hold their constants in their text: no parameters
    con.execute(f"CREATE OR REPLACE MACRO cost_currency_of(c) AS upper(coalesce(c, {literal(DEFAULT_COST_CURRENCY)}))")
    namespace, suffix = literal(MODEL_NAMESPACE), literal(SNAPSHOT_SUFFIX)
    con.execute(f"CREATE OR REPLACE MACRO model_key(m) AS regexp_replace(lower(m), {namespace}, '')")
    con.execute(
        "CREATE OR REPLACE MACRO price_matches(m, price_model) AS starts_with(model_key(m), lower(price_model)) "
        f"AND regexp_full_match(substr(model_key(m), length(price_model) + 1), {suffix})"
    )


def delta_per_10k_runs(baseline_mean_cost: float | None, candidate_mean_cost: float | None) -> float | None:
    """How much more (or less) 10,000 runs cost with the candidate than with the baseline."""
    if baseline_mean_cost is None or candidate_mean_cost is None:
        return None
    return (candidate_mean_cost - baseline_mean_cost) * 10_000


COST_GROUPS = {
    "model": "model",
    "version": "version_resolved",
    "day": "strftime(start_time, '%Y-%m-%d')",
    "agent": "agent_resolved",
}


# Every priced model call with the agent and version it belongs to (those of the agent run around it
# when the call itself does not carry them): what cost reports filter and group. One pass over the
# calls; the API keeps it materialized in its snapshot.
COSTED_CALLS_SQL = """
    WITH agents AS (
        SELECT trace_id, any_value(agent_name) AS run_agent, any_value(agent_version) AS run_version
        FROM spans WHERE operation = 'invoke_agent' GROUP BY trace_id)
    SELECT c.trace_id, c.span_id, c.call_start_time AS start_time, c.call_agent AS agent_name,
           c.call_environment AS environment, c.call_input_tokens AS input_tokens,
           c.call_output_tokens AS output_tokens, c.cost, c.cost_source, c.model,
           coalesce(c.call_agent, a.run_agent) AS agent_resolved,
           coalesce(c.call_agent_version, a.run_version, c.call_service_version) AS version_resolved,
           1.0 / coalesce(c.call_sample_rate, 1.0) AS weight  -- a sampled call stands for 1 / rate calls
    FROM llm_call_costs c LEFT JOIN agents a USING (trace_id)"""


def grouped_costs(
    con: Any,
    by: str,
    clauses: list[str],
    params: list[Any],
    agent: str | None = None,
    env: str | None = None,
    source: str | None = None,
) -> tuple[float, list[str]]:
    """Create the temp view ``_report``: model-call cost grouped ``by`` model, version, day or agent,
    with call counts by cost source; returns (total, unpriced models). ``source`` is a table holding
    ``COSTED_CALLS_SQL``'s rows (the API's snapshot); without it they are read from the spans."""
    clauses, params = list(clauses), list(params)
    if agent:
        clauses.append("c.agent_resolved = ?")
        params.append(agent)
    if env:
        clauses.append("c.environment = ?")
        params.append(env)
    relation = source or f"({COSTED_CALLS_SQL})"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _costed AS SELECT * FROM {relation} c WHERE {' AND '.join(clauses)}", params
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW _report AS SELECT {COST_GROUPS[by]} AS {by},
               CAST(round(sum(weight)) AS BIGINT) AS calls,
               CAST(round(sum(input_tokens * weight)) AS BIGINT) AS input_tokens,
               CAST(round(sum(output_tokens * weight)) AS BIGINT) AS output_tokens,
               round(sum(cost * weight), 6) AS cost,
               count(*) FILTER (WHERE cost_source = 'reported') AS reported,
               count(*) FILTER (WHERE cost_source = 'pricing') AS from_table,
               count(*) FILTER (WHERE cost_source IS NULL) AS unpriced
            FROM _costed GROUP BY ALL ORDER BY cost DESC NULLS LAST"""
    )
    total, unpriced = con.execute(
        "SELECT coalesce(sum(cost * weight), 0), list(DISTINCT model) FILTER (WHERE cost_source IS NULL) FROM _costed"
    ).fetchall()[0]
    return float(total), sorted(map(str, unpriced or []))
