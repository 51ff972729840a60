"""The statistics behind drift verdicts, against known answers and simulations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from driftline.analysis.stats import effects, significance


def test_rare_categories_are_pooled_and_small_2x2_uses_fisher() -> None:
    base = ["resolved"] * 90 + ["escalated"] * 8 + ["failed"] * 1 + ["timeout"] * 1
    cand = ["resolved"] * 80 + ["escalated"] * 18 + ["failed"] * 2
    table, names = significance.contingency(base, cand)
    assert names == ("escalated", "resolved", significance.POOLED) and table.sum() == 200
    result = significance.categorical_test(base, cand)
    assert result.method == "chi_square"
    assert result.p_value == pytest.approx(sps.chi2_contingency(table).pvalue)
    small = significance.categorical_test({"a": 2, "b": 6}, {"a": 7, "b": 1})
    assert small.method == "fisher_exact"
    assert small.p_value == pytest.approx(sps.fisher_exact([[2, 6], [7, 1]]).pvalue)
    medium = significance.categorical_test({"a": 3, "b": 9}, {"a": 9, "b": 3})
    assert medium.method == "chi_square"  # every expected count is 6
    rare = significance.contingency({"x": 1, "y": 1, "z": 1}, {"x": 2, "y": 1, "z": 0})[1]
    assert len(rare) == 2  # all rare: the most frequent stays apart, the rest is pooled
    same = significance.categorical_test({"x": 50, "y": 50}, {"x": 50, "y": 50})
    assert same.p_value > 0.9 and significance.categorical_test({"x": 5}, {"x": 9}).p_value == 1.0


def test_ks_sees_shifts_and_not_noise() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(100, 10, 2000), rng.normal(103, 10, 2000)
    assert significance.numeric_test(a, b).p_value < 1e-6
    assert significance.numeric_test(a, rng.normal(100, 10, 2000)).p_value > 0.01
    assert significance.numeric_test([], [1.0]).p_value == 1.0


def test_corrections() -> None:
    assert significance.adjust([0.01, 0.04, 0.03], "holm") == pytest.approx([0.03, 0.06, 0.06])
    p = [0.001, 0.02, 0.04, 0.5]
    assert significance.adjust(p, "bh") == pytest.approx(list(sps.false_discovery_control(p)))
    assert significance.adjust([]) == []


def test_aa_false_alarm_rate_is_nominal() -> None:
    rng = np.random.default_rng(7)
    alarms = sum(
        significance.numeric_test(rng.lognormal(5, 1, 300), rng.lognormal(5, 1, 300)).p_value < 0.05 for _ in range(300)
    )
    assert 3 <= alarms <= 30  # ~5% of 300, with room for chance


def test_newcombe_interval_covers_a_rate_difference_and_excludes_zero_only_when_rates_differ() -> None:
    rng = np.random.default_rng(11)
    a, b = rng.random(4000) < 0.10, rng.random(4000) < 0.16
    low, high = effects.newcombe(a.sum(), len(a), b.sum(), len(b))
    assert low < 0.06 < high and low > 0.02  # the whole interval beyond a 2-point floor
    same = rng.random(4000) < 0.10
    low, high = effects.newcombe(a.sum(), len(a), same.sum(), len(same))
    assert low < 0 < high
    assert effects.wilson(0, 50, 1.96)[0] == 0.0 and effects.wilson(50, 50, 1.96)[1] == 1.0


def test_distribution_distances() -> None:
    assert effects.jensen_shannon({"a": 5, "b": 5}, {"a": 50, "b": 50}) == pytest.approx(0.0)
    assert effects.jensen_shannon({"a": 5}, {"b": 5}) == pytest.approx(1.0)
    assert effects.jensen_shannon({}, {"a": 1}) == 0.0


@pytest.mark.parametrize("n, sims", [(200, 300), (20_000, 120)])
def test_95_percent_intervals_cover_the_true_effect_93_to_97_percent_of_the_time(n: int, sims: int) -> None:
    """Rates (common and rare, 2-5%) and medians, at 200 runs per side and at 20,000 (m-out-of-n
    bootstrap of a 1,000-run subsample for medians; score intervals for rates). The band is 93-97%
    widened by this simulation's own noise (2 SE); bench_power.py runs 1,000 seeds against 93-97%."""
    from tests.simulated_runs import coverage

    se = (0.05 * 0.95 / sims) ** 0.5
    for case, rate in coverage(n, sims, seed0=n).items():
        assert 0.93 - 2 * se <= rate <= 0.97 + 2 * se, f"{case} at {n} runs/side: {rate:.1%}"
