"""The drift verdict's statistical honesty (A/A), its power on injected shifts, and its rules."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

from driftline.analysis.diff.configuration import changes
from driftline.analysis.diff.dimensions import configured
from driftline.analysis.diff.engine import StatSettings, compare, correct, verdict
from driftline.analysis.diff.hypotheses import generate, load_rules
from driftline.analysis.stats import significance
from tests.simulated_runs import SCENARIOS, detected, runs


def test_aa_false_alarm_rate_is_at_most_nominal() -> None:
    """200 seeds of A/A data: review-or-block at most 5% plus sampling tolerance (2 SE = 3.1 points)."""
    alarms = sum(detected(200, {}, seed)[0] != "stable" for seed in range(200))
    assert alarms / 200 <= 0.05 + 2 * (0.05 * 0.95 / 200) ** 0.5


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_injected_shifts_are_detected_with_fixed_seeds(name: str) -> None:
    n, shift, _ = SCENARIOS[name]
    hits = sum(detected(n, shift, 500 + seed)[0] != "stable" for seed in range(20))
    assert hits >= 16, f"{name}: detected in {hits}/20"


def test_shift_is_attributed_to_the_right_dimension() -> None:
    verdict_name, dims = detected(200, {"escalation": 0.25}, 3)
    assert verdict_name in ("review", "block")
    outcome = dims["outcome"]
    assert outcome.status == "moved" and outcome.focus == "escalated" and outcome.effect > 0.1
    assert outcome.ci_low > 0.02 and dims["input_tokens"].status != "moved"
    _, dims = detected(500, {"search_rate": 0.7}, 4)
    assert dims["tools"].focus == "search_knowledge_base" and dims["tools"].effect < 0


def test_100k_runs_with_one_percent_more_tokens_stays_stable() -> None:
    rng = np.random.default_rng(11)
    a, b = runs(100_000, rng), runs(100_000, rng, tokens=1.01)
    s = StatSettings()
    c = compare(a, b, s)
    correct(c.results, s)
    v = verdict(c, s, 100_000, 100_000)
    tokens = {r.name: r for r in c.results}["input_tokens"]
    assert tokens.p_adjusted < 0.05 and tokens.status == "negligible"  # detectable ...
    assert v.verdict == "stable" and "Detectable but negligible" in " ".join(v.reasons)  # ... but negligible
    assert v.score < 0.05


def test_too_few_runs_says_how_many_more() -> None:
    rng = np.random.default_rng(0)
    s = StatSettings(min_runs=30)
    c = compare(runs(40, rng), runs(12, rng), s)
    correct(c.results, s)
    v = verdict(c, s, 40, 12)
    assert v.verdict == "insufficient" and v.runs_needed == {"candidate": 18} and "18 more" in v.reasons[0]


def test_score_is_bounded_with_an_interval() -> None:
    verdict_name, _ = detected(300, {"tokens": 2.0, "escalation": 0.4}, 9)
    rng = np.random.default_rng(9)
    s = StatSettings(bootstrap=200)
    c = compare(runs(300, rng), runs(300, rng, tokens=2.0, escalation=0.4), s)
    correct(c.results, s)
    v = verdict(c, s, 300, 300)
    assert verdict_name == v.verdict == "block"
    assert 0 <= v.score_low <= v.score <= v.score_high <= 1 and v.score > 0.3


def test_weighted_holm_equals_holm_with_equal_weights_and_favours_heavy_dimensions() -> None:
    p = [0.01, 0.04, 0.03, 0.5]
    assert significance.weighted_holm(p, [1, 1, 1, 1]) == pytest.approx(significance.adjust(p, "holm"))
    heavy = significance.weighted_holm([0.03, 0.03, 0.5], [0.8, 0.1, 0.1])
    assert heavy[0] == pytest.approx(0.0375) and heavy[1] == pytest.approx(0.06)  # equal weights: 0.09 both
    with pytest.raises(ValueError):
        significance.weighted_holm([0.1], [0])


def test_presence_test_ignores_labels_that_cannot_vary() -> None:
    res = significance.presence_test({"always": 100, "x": 90}, {"always": 100, "x": 70}, 100, 100)
    assert res.tested == 1 and res.label == "x" and res.p_value < 0.001


def test_configuration_overrides_are_validated() -> None:
    dims = configured({"outcome": {"floor": 0.05, "weight": 0.5}, "retries": {"enabled": False}})
    by = {d.name: d for d in dims}
    assert by["outcome"].floor == 0.05 and "retries" not in by
    with pytest.raises(ValueError, match="unknown dimension"):
        configured({"nope": {}})
    with pytest.raises(ValueError, match="block > floor"):
        configured({"outcome": {"floor": 0.5}})
    rules = load_rules(
        [
            {"id": "tool_dropped", "enabled": False},
            {"id": "mine", "dimension": "outcome", "direction": "up", "text": "custom {focus}"},
        ]
    )
    assert "tool_dropped" not in {r["id"] for r in rules} and "mine" in {r["id"] for r in rules}
    with pytest.raises(ValueError):
        load_rules([{"id": "bad", "text": "x", "whatever": 1}])


def test_silent_model_update_is_named() -> None:
    a = {"models": {"gpt-4o": 1.0}, "snapshots": {"gpt-4o-2024-08-06": 1.0}}
    b = {"models": {"gpt-4o": 1.0}, "snapshots": {"gpt-4o-2024-11-20": 1.0}}
    (change,) = changes(a, b, same_version=True)
    assert change.kind == "silent_model_update" and "2024-11-20" in change.note
    assert changes(a, b, same_version=False)[0].kind == "snapshot_changed"
    hyps = generate(load_rules(), [], [change], {})
    assert hyps[0].rule == "silent_model_update" and hyps[0].text.startswith("Silent model update")


def _labels(n: int, shares: dict[str, int]) -> list[list[str]]:
    """n runs, the first ``count`` of which carry each label."""
    return [[label for label, count in shares.items() if i < count] for i in range(n)]


def test_a_set_valued_dimension_reports_the_label_that_was_tested_significant() -> None:
    """``common`` moves 8 points but is not significant on its own (p ~ 0.05, Bonferroni over two
    labels); ``rare`` moves 5 points from zero and is (p ~ 1e-5). The dimension's effect is
    ``rare``'s — the label the test rests on — with an interval simultaneous over both labels."""
    n = 300
    base = {"tool_sequence": _labels(n, {"common": 150, "rare": 0})}
    cand = {"tool_sequence": _labels(n, {"common": 174, "rare": 15})}
    settings = StatSettings(dimensions=tuple(d for d in configured() if d.name == "tools"), bootstrap=400)
    comparison = compare(base, cand, settings)
    correct(comparison.results, settings)
    (tools,) = comparison.results
    assert tools.focus == "rare" and tools.effect == pytest.approx(0.05)
    assert tools.p_value < 1e-3 and tools.test == "presence (Bonferroni over 2 labels)"
    assert tools.ci_low > 0.02 and tools.status == "moved"  # found, and beyond its floor
    # its interval is at level 1 - 0.05/2: wider than a 95% one from the same replicates
    wide = tools.ci_high - tools.ci_low
    assert wide > 1.96 * 2 * (0.05 * 0.95 / n) ** 0.5


def test_integer_counts_are_compared_as_counts_at_the_nominal_rate() -> None:
    """Retries (0, 1, 2... per run) have many ties: KS is conservative there (a 5% test rejecting far
    less than 5% of A/A pairs, so real changes are missed); the count test rejects ~5%."""
    settings = StatSettings(dimensions=tuple(d for d in configured() if d.name == "retries"), bootstrap=50)
    rejected = 0
    sims = 300
    for seed in range(sims):
        rng = np.random.default_rng(seed)
        a, b = runs(300, rng, retries=0.4), runs(300, rng, retries=0.4)
        (r,) = compare({"retries": a["retries"]}, {"retries": b["retries"]}, settings).results
        assert r.test.endswith("(counts)")
        rejected += r.p_value < 0.05
    assert 0.03 <= rejected / sims <= 0.075
    rng = np.random.default_rng(7)
    a, b = runs(1000, rng, retries=0.3), runs(1000, rng, retries=0.45)  # 50% more retries: found
    (r,) = compare({"retries": a["retries"]}, {"retries": b["retries"]}, settings).results
    assert r.p_value < 1e-3


def test_a_slower_tail_is_found_while_the_median_is_unchanged() -> None:
    """The slowest 10% of runs 30% slower: p95 +30%, median flat. The median dimension says
    unchanged; the tail dimension moves (power is measured in bench_power.py and the scenarios)."""
    verdict_name, dims = detected(1000, {"tail": 1.3}, 21)
    assert dims["duration_ms"].status == "unchanged" and abs(dims["duration_ms"].effect) < 0.03
    tail = dims["duration_p95"]
    assert tail.status == "moved" and tail.effect_name == "p95_shift" and 0.2 < tail.effect < 0.4
    assert tail.test.startswith("tail exceedance above pooled p95") and verdict_name != "stable"


def test_aa_with_segments_keeps_the_report_family_wise_error_at_alpha() -> None:
    """--by over 5 segments: the overall dimensions and every segment's are one family, so an A/A
    report flags anything (overall or in a segment) at most 5% of the time — not ~2 x 5%. One
    dimension (KS on latency, exact in size) makes the old split, alpha per family, show as ~10%."""
    from driftline.analysis.diff import segments

    dims = tuple(d for d in configured() if d.name == "duration_ms")
    sims, flagged = 400, 0
    for seed in range(sims):
        settings = StatSettings(bootstrap=50, seed=seed, dimensions=dims)
        rng = np.random.default_rng(seed)
        a, b = runs(500, rng), runs(500, rng)
        overall = compare(a, b, settings)
        seg = segments.compare_segments(a, b, rng.integers(0, 5, 500), rng.integers(0, 5, 500), "tenant", settings)
        assert len(seg.compared) == 5
        segments.correct_together(overall, seg, settings)
        flagged += any(r.p_adjusted <= settings.alpha for r in overall.results + seg.dimensions)
    assert flagged / sims <= 0.05 + 2 * (0.05 * 0.95 / sims) ** 0.5


def test_aa_with_agent_semantics_keeps_the_false_alarm_rate_and_names_the_dimensions() -> None:
    """Decisions, signals, failures and memory join the family without raising A/A false alarms; a shifted
    decision share is reported on the decisions dimension, named by its option."""
    shift = {"semantics": True}
    alarms = sum(detected(300, shift, seed)[0] != "stable" for seed in range(100))
    assert alarms / 100 <= 0.05 + 2 * (0.05 * 0.95 / 100) ** 0.5
    _, dims = detected(500, {"semantics": True, "api_share": 0.50}, 7)
    assert dims["decisions"].status == "moved" and dims["decisions"].focus.startswith("tool_selection=")
    assert {"signals", "failures", "memory_reads", "memory_writes"} <= set(dims)
    _, dims = detected(500, {"semantics": True, "schema_invalid": 0.08}, 8)
    assert dims["signals"].status == "moved" and dims["signals"].focus.startswith("schema_valid=")
    # runs that record none (as the runs view gives them: empty lists, NULL counts) are not compared, so these
    # dimensions take no share of the error budget
    rng = np.random.default_rng(1)
    empty = {
        "decisions": [[]] * 200,
        "signals": [[]] * 200,
        "failures": [[]] * 200,
        "memory_reads": np.full(200, np.nan),
        "memory_writes": np.full(200, np.nan),
    }
    s = StatSettings(bootstrap=50)
    c = compare(runs(200, rng) | empty, runs(200, rng) | empty, s)
    plain = {r.name: r.status for r in c.results}
    assert all(plain[d] == "no data" for d in empty), plain


def test_a_decision_shift_is_described_not_judged() -> None:
    rng = np.random.default_rng(21)
    s = StatSettings(bootstrap=200, seed=21)
    c = compare(runs(500, rng, semantics=True), runs(500, rng, semantics=True, api_share=0.45), s)
    correct(c.results, s)
    v = verdict(c, s, 500, 500)
    assert v.verdict in ("review", "block")
    assert any("behaves differently" in r and "not that it broke" in r for r in v.reasons), v.reasons
    texts = {h.rule: h.text for h in generate(load_rules(), c.results, [], {})}
    assert texts["decision_shift"].startswith("Decisions shifted: `tool_selection=")


def test_dimensions_that_moved_on_the_same_runs_are_reported_once() -> None:
    """Fewer searches move "Tools called" and "Tool order (bigrams)" on exactly the same runs: the
    bigram is marked as the tools' echo, folded into its reason and left without a hypothesis of its
    own — while its p-value, status and the score stay what they were. Independent dimensions are not
    folded."""
    from driftline.analysis.diff import echoes
    from driftline.analysis.report.format import status_label

    rng = np.random.default_rng(7)
    s = StatSettings()
    c = compare(runs(600, rng), runs(600, rng, search_rate=0.6, escalation=0.2), s)
    correct(c.results, s)
    before = {r.name: (r.p_adjusted, r.status) for r in c.results}
    score_before = verdict(c, s, 600, 600).score
    echoes.mark(c)
    dims = {r.name: r for r in c.results}
    assert dims["tools"].status == dims["tool_bigrams"].status == "moved"
    assert dims["tool_bigrams"].echo_of == "tools" and dims["tools"].echo_of is None
    assert dims["outcome"].status == "moved" and dims["outcome"].echo_of is None  # moved too, on other runs
    assert {r.name: (r.p_adjusted, r.status) for r in c.results} == before
    v = verdict(c, s, 600, 600)
    assert v.score == score_before
    tool_reasons = [r for r in v.reasons if "Tool" in r]
    assert len(tool_reasons) == 1 and "with Tool order (bigrams): the same runs" in tool_reasons[0]
    found = generate(load_rules(), c.results, [], {})
    assert "tool_dropped" in {h.rule for h in found} and "tool_order_changed" not in {h.rule for h in found}
    assert status_label(dims["tool_bigrams"], c.results) == "moved (same runs as Tools called)"


def test_compare_keeps_the_whole_matrix_within_alpha_on_aa_data() -> None:
    """Six versions of one agent, every pair compared (15 reports): with each report at alpha/15 the
    chance that any cell of the matrix alarms stays within 5%; at alpha per report it would not."""
    from dataclasses import replace

    from driftline.analysis.commands.compare import pairs_of, per_pair

    names = [f"v{i}" for i in range(6)]
    pairs = pairs_of(names, matrix=True)
    assert len(pairs) == 15 and pairs_of(names, matrix=False) == [("v0", v) for v in names[1:]]
    corrected = replace(StatSettings(), alpha=per_pair(0.05, len(pairs)), bootstrap=100)
    plain = replace(StatSettings(), bootstrap=100)
    any_alarm = {"corrected": 0, "plain": 0}
    seeds = 20
    for seed in range(seeds):
        rng = np.random.default_rng(9000 + seed)
        sides = {n: runs(120, rng) for n in names}
        for label, s in (("corrected", corrected), ("plain", plain)):
            flagged = False
            for a, b in pairs:
                c = compare(sides[a], sides[b], s)
                correct(c.results, s)
                flagged |= any(r.status == "moved" for r in c.results)
            any_alarm[label] += flagged
    assert any_alarm["corrected"] / seeds <= 0.05 + 2 * (0.05 * 0.95 / seeds) ** 0.5, any_alarm
    assert any_alarm["plain"] > any_alarm["corrected"], any_alarm


@functools.cache
def _views_bigrams() -> tuple[Any, str]:
    """A DuckDB connection and the expression ``runs.sql`` builds ``tool_bigrams`` with, read out of it."""
    import re

    import duckdb

    from driftline.analysis.views import SQL_DIR

    runs_sql = (SQL_DIR / "runs.sql").read_text()
    expression = re.search(r"(list_transform\(list_zip\(.*?\)\)) AS tool_bigrams", runs_sql, re.S)
    assert expression, "runs.sql no longer builds tool_bigrams as this test reads it"
    return duckdb.connect(), expression.group(1).replace("a.tool_sequence", "tool_sequence")


def _assert_bigrams_as_the_view_builds_them(sides: list[list[list[str | None]]]) -> None:
    """``_bigram_sets`` on two sides' tool sequences equals ``_label_sets`` on the ``tool_bigrams``
    strings that ``runs.sql``'s own expression builds from them."""
    import pyarrow as pa

    from driftline.analysis.diff.dimensions import _bigram_sets, _label_sets

    con, sql = _views_bigrams()
    sequences, bigrams = [], []
    for i, sequence in enumerate(sides):
        side = pa.table({"tool_sequence": pa.array(sequence, pa.list_(pa.string()))})
        con.register(f"s{i}", side)
        bigrams.append(con.sql(f"SELECT {sql} AS b FROM s{i}").to_arrow_table().column("b").combine_chunks())
        sequences.append(side.column("tool_sequence").combine_chunks())
    want = _label_sets(bigrams[0].cast(pa.list_(pa.string())), bigrams[1].cast(pa.list_(pa.string())))
    got = _bigram_sets(sequences[0], sequences[1])
    assert got.labels == want.labels
    assert got.a.tolist() == want.a.tolist() and got.b.tolist() == want.b.tolist()
    assert (got.n_a, got.n_b) == (want.n_a, want.n_b)


def test_tool_order_encoded_from_the_sequence_is_the_views_bigrams() -> None:
    """A diff encodes tool order from ``tool_sequence`` (pairs of codes), not from the view's
    ``tool_bigrams`` strings: on random sequences (empty, nameless tools, names that look like the
    markers or hold the separator) the encoding equals that of the strings ``runs.sql`` builds."""
    import random

    rng = random.Random(11)
    names = ["search", "lookup", "(start)", "(end)", "a → b", "é"]
    for _ in range(300):
        _assert_bigrams_as_the_view_builds_them(
            [
                [
                    [None if rng.random() < 0.1 else rng.choice(names) for _ in range(rng.randint(0, 5))]
                    for _ in range(rng.randint(0, 12))
                ]
                for _ in range(2)
            ]
        )


@pytest.mark.parametrize("dense", [True, False])
def test_tool_order_labels_first_seen_late_keep_their_order(dense: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Labels are named in order of first appearance, found from a growing prefix of the pairs: pairs
    first seen far beyond the first block (and only in the candidate) keep that order, whether the
    pairs are counted in a table (few tools) or sorted (many)."""
    import random

    from driftline.analysis.diff import dimensions

    if not dense:
        monkeypatch.setattr(dimensions, "DENSE_PAIRS", 0)
    rng = random.Random(5)
    common = ["search", "lookup", "(end)"]
    baseline = [[rng.choice(common) for _ in range(rng.randint(0, 4))] for _ in range(3000)]
    baseline[2500] = ["rare", "search"]
    candidate = [[rng.choice(common) for _ in range(rng.randint(0, 4))] for _ in range(6000)]
    candidate[5999] = ["search", "rarest", None, "rare"]
    _assert_bigrams_as_the_view_builds_them([baseline, candidate])


def test_a_diffs_figures_do_not_depend_on_the_order_its_runs_were_read() -> None:
    """DuckDB returns a side's runs in a different order at each load (a parallel scan and a hash
    anti-join), and the bootstrap subsamples runs by position: the same runs, read in another order,
    must give the same intervals, replicates and echo profiles (they are drawn over the runs sorted by
    start time and trace id)."""
    from datetime import UTC, datetime, timedelta

    rng = np.random.default_rng(21)
    n = 3_000  # above max_bootstrap_side: the interval rests on a subsample of the runs
    start = datetime(2026, 11, 1, tzinfo=UTC)
    sides = []
    for version, tokens in (("a", 1.0), ("b", 1.1)):
        side = runs(n, rng, tokens=tokens)
        side["start_time"] = [start + timedelta(seconds=int(s)) for s in rng.integers(0, 86_400, n)]
        side["trace_id"] = [f"{version}{i:031x}" for i in range(n)]
        sides.append(side)

    def shuffled(side: dict[str, Any], seed: int) -> dict[str, Any]:
        order = np.random.default_rng(seed).permutation(n)
        return {k: [v[i] for i in order] if isinstance(v, list) else np.asarray(v)[order] for k, v in side.items()}

    settings = StatSettings()
    first = compare(*sides, settings)
    again = compare(shuffled(sides[0], 1), shuffled(sides[1], 2), settings)
    assert [r.name for r in first.results] == [r.name for r in again.results]
    for r, s in zip(first.results, again.results, strict=True):
        assert (r.test, r.status, r.focus) == (s.test, s.status, s.focus), r.name
        assert r.p_value == pytest.approx(s.p_value, rel=1e-9, abs=1e-300), r.name
        for field in ("effect", "ci_low", "ci_high", "score"):
            assert getattr(r, field) == pytest.approx(getattr(s, field), rel=1e-9, abs=1e-12), (r.name, field)
    for name, reps in first.replicates.items():
        np.testing.assert_allclose(reps, again.replicates[name], rtol=1e-9, atol=1e-12, err_msg=name)
    for name, profile in first.profiles.items():
        np.testing.assert_allclose(np.sort(profile), np.sort(again.profiles[name]), err_msg=name)
        np.testing.assert_allclose(profile, again.profiles[name], err_msg=name)
