"""Model drift (``driftline diff --model``) by simulation with known truth: 100 features (80 numeric, some
integer, some with missing values; 20 categorical), fixed seeds. A/A: the report raises no false alarm
across seeds; shift (+0.1 SD on five numeric features, 5 points on two categorical): the seven are
named and nothing else; at 500 rows per side the report says what it cannot resolve."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from driftline.analysis.diff.engine import StatSettings, verdict
from driftline.analysis.ml.drift import compare_columns, dimensions, moved_features, unresolved
from tests.ml_tables import SHIFTED_CATEGORICAL, SHIFTED_NUMERIC, Population

N = 20_000
POP = Population()


def _compare(a: dict, b: dict, **kw: object):
    n_a, n_b = len(next(iter(a.values()))), len(next(iter(b.values())))
    comparison, _, settings = compare_columns(dict(a), dict(b), n_a, n_b, StatSettings(), **kw)
    return comparison, verdict(comparison, settings, n_a, n_b, unit="inferences")


def _moved(comparison) -> set[str]:
    return moved_features(type("R", (), {"dimensions": comparison.results})())  # type: ignore[arg-type]


@pytest.mark.slow
def test_a_a_pairs_raise_no_false_alarm() -> None:
    """Twelve A/A pairs at 20,000 per side (the bench runs 200): the report's family-wise error is
    controlled over ~110 dimensions, where testing each at 5% would flag several per pair."""
    alarms = 0
    for seed in range(12):
        comparison, v = _compare(POP.sample(N, 100 + seed), POP.sample(N, 200 + seed))
        alarms += v.verdict != "stable"
        raw = sum(r.p_value <= 0.05 for r in comparison.results)
        assert raw <= 15  # uncorrected, ~5% of the dimensions would be "significant"
    assert alarms <= 1


@pytest.mark.slow
def test_the_seven_shifted_features_are_named_and_nothing_else() -> None:
    covered = checked = 0
    for seed in range(2):
        comparison, v = _compare(POP.sample(N, 300 + seed), POP.sample(N, 400 + seed, shifted=True))
        moved = _moved(comparison)
        truth = set(SHIFTED_NUMERIC) | set(SHIFTED_CATEGORICAL)
        assert len(moved & truth) >= 6, moved
        assert not moved - truth, moved - truth
        assert v.verdict == "review"
        by_name = {r.name: r for r in comparison.results}
        for name in SHIFTED_NUMERIC:
            r = by_name[f"feature.{name}"]
            assert r.effect_name == "mean_shift_sd" and 0.06 < r.effect < 0.14, (name, r.effect)
            covered += r.ci_low <= 0.1 <= r.ci_high
            checked += 1
        for name in SHIFTED_CATEGORICAL:
            r = by_name[f"feature.{name}"]
            assert r.kind == "category" and abs(r.effect) == pytest.approx(0.05, abs=0.015)
    assert covered >= checked - 2  # 95% intervals: one or two of ten may miss the true +0.1 SD


def test_small_samples_say_what_they_cannot_resolve() -> None:
    comparison, v = _compare(POP.sample(500, 1), POP.sample(500, 2, shifted=True))
    assert v.verdict in ("stable", "review")
    said = unresolved(comparison.results)
    assert said and "Cannot resolve at this sample size" in said[0]
    open_ = int(said[0].split(": ")[1].split(" of ")[0])
    assert open_ >= 20  # at 500 per side a 0.05 SD floor is far inside every numeric interval


def test_distances_users_know_are_reported_beside_the_test() -> None:
    comparison, _ = _compare(POP.sample(4000, 5), POP.sample(4000, 6, shifted=True))
    r = next(r for r in comparison.results if r.name == "feature.c03")
    extra = r.candidate_distribution
    assert set(extra) >= {"wasserstein_sd", "psi", "missing_baseline", "missing_candidate", "outside_baseline_range"}
    assert 0 < extra["wasserstein_sd"] < 1 and extra["psi"] >= 0
    missing = next(r for r in comparison.results if r.name == "missing:feature.c55")
    assert missing.kind == "category" and missing.title == "c55 (missing rate)"


def test_the_quantile_wasserstein_matches_scipy() -> None:
    from scipy.stats import wasserstein_distance

    from driftline.analysis.diff.measures import wasserstein as _wasserstein

    rng = np.random.default_rng(3)
    for a, b in [
        (rng.normal(0, 1, 50_000), rng.normal(0.1, 1, 40_000)),
        (rng.lognormal(0, 1, 20_000), rng.lognormal(0.2, 1, 20_000)),
        (rng.poisson(3, 30_000).astype(float), rng.poisson(3.3, 30_000).astype(float)),
    ]:
        exact = wasserstein_distance(a, b)
        assert _wasserstein(np.sort(a), np.sort(b)) == pytest.approx(exact, rel=0.02)


def test_missing_rate_jump_and_a_new_feature_are_found() -> None:
    a, b = POP.sample(3000, 7), POP.sample(3000, 8)
    values = b["feature.c01"].to_numpy(zero_copy_only=False).copy()
    b["feature.c01"] = pa.array(values, mask=np.arange(3000) % 5 == 0)  # 20% missing upstream
    b["feature.brand_new"] = pa.array(np.ones(3000))
    comparison, v = _compare(a, b)
    moved = {r.name for r in comparison.results if r.status == "moved"}
    assert {"missing:feature.c01", "missing:feature.brand_new"} <= moved
    assert "feature.c01" not in moved  # the values that are there did not move
    assert v.verdict in ("review", "block")


def test_new_categories_are_reported_as_the_share_unseen_in_the_baseline() -> None:
    a, b = POP.sample(3000, 11), POP.sample(3000, 12)
    values = np.asarray(b["feature.k01"].to_pylist(), dtype=object)
    values[:300] = "brand-new"  # 10% of the candidate in a category the baseline never had
    b["feature.k01"] = pa.array(values.tolist())
    comparison, _ = _compare(a, b)
    r = next(r for r in comparison.results if r.name == "feature.k01")
    assert r.status == "moved" and r.focus == "brand-new"
    assert r.candidate_distribution["unseen_in_baseline"] == pytest.approx(0.1)
    other = next(r for r in comparison.results if r.name == "feature.k03")
    assert other.candidate_distribution["unseen_in_baseline"] == 0.0


def test_kinds_of_columns_become_the_right_dimensions() -> None:
    a = {
        "feature.x": pa.array([1.0, 2.0, None]),
        "feature.flag": pa.array([True, False, True]),
        "feature.city": pa.array(["a", "b", "c"]),
        "feature.mixed": pa.array([1.0, 2.0, 3.0]),
        "prediction": pa.array([0.1, 0.2, 0.3]),
        "prediction_class": pa.nulls(3, pa.string()),
    }
    b = {**a, "feature.mixed": pa.array(["1", "x", "2"])}
    dims = {d.name: d for d in dimensions(a, b, 3, 3)}
    assert dims["feature.x"].kind == "numeric" and dims["feature.x"].center == "sd"
    assert dims["feature.flag"].kind == "category" and dims["feature.city"].kind == "category"
    assert dims["feature.mixed"].kind == "category" and a["feature.mixed"].type == pa.string()
    assert "missing:feature.x" in dims and "prediction" in dims and "prediction_class" not in dims


def test_segments_share_the_one_family() -> None:
    a, b = POP.sample(4000, 9), POP.sample(4000, 10, shifted=True)
    by_a = np.asarray(a["feature.k00"].to_pylist(), dtype=object)
    by_b = np.asarray(b["feature.k00"].to_pylist(), dtype=object)
    comparison, segmented, _ = compare_columns(dict(a), dict(b), 4000, 4000, StatSettings(), "k00", by_a, by_b)
    assert segmented is not None and segmented.compared
    weights = sum(r.weight for r in segmented.dimensions)
    assert weights == pytest.approx(sum(r.weight for r in comparison.results))


def test_model_hypotheses_from_missing_rates_new_categories_and_the_prediction() -> None:
    from driftline.analysis.ml import hypotheses

    a, b = POP.sample(6000, 21), POP.sample(6000, 22)
    b = dict(b)
    c51 = b["feature.c51"].to_numpy(zero_copy_only=False).copy()
    c51[: len(c51) // 3] = np.nan  # a third missing: an upstream join stopped filling it
    b["feature.c51"] = pa.array(c51, from_pandas=True)
    k05 = np.asarray(b["feature.k05"].to_pylist(), dtype=object)
    k05[:600] = "brand-new"  # 10% in a category the baseline never had
    b["feature.k05"] = pa.array(list(k05))
    comparison, _ = _compare(a, b)
    found = hypotheses.generate(hypotheses.load_rules(), comparison.results, None)
    rules = {h.rule for h in found}
    assert {"missing_rate_up", "new_categories"} <= rules and "prediction_only" not in rules
    texts = " ".join(h.text for h in found)
    assert "`c51` is missing far more often" in texts and "'brand-new'" in texts
    # the prediction alone moved: the model changed
    b2 = dict(POP.sample(6000, 23))
    b2["prediction"] = pc.add(b2["prediction"], 0.1)
    comparison, _ = _compare(a, b2)
    found = hypotheses.generate(hypotheses.load_rules(), comparison.results, None)
    assert [h.rule for h in found] == ["prediction_only"]


@pytest.mark.slow
def test_a_sub_population_names_the_features_it_selects_on() -> None:
    """Keep only rows whose c00 is below its median (as 'age < 35' in Driftium's simulations): c00 and
    the prediction (which c00 feeds) move; the independent features do not."""
    a, b = POP.sample(N, 50_000), POP.sample(2 * N, 50_001)
    keep = pc.less(b["feature.c00"], float(np.nanmedian(b["feature.c00"].to_numpy(zero_copy_only=False))))
    b = {k: pc.filter(v, keep) for k, v in b.items()}
    comparison, v = _compare(a, b)
    moved = {r.name for r in comparison.results if r.status == "moved"}
    assert "feature.c00" in moved and v.verdict != "stable"
    assert moved <= {"feature.c00", "prediction"}


def test_a_joint_shift_no_single_feature_shows_is_caught_by_the_multivariate_signal() -> None:
    """Two features keep their own distributions but their correlation flips (+0.8 → -0.8): no feature
    moves, the PCA reconstruction error of the baseline's components does."""
    rng = np.random.default_rng(4)
    n = 8000

    def pair(rho: float) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=n)
        return x, rho * x + np.sqrt(1 - rho**2) * rng.normal(size=n)

    a, b = dict(POP.sample(n, 31)), dict(POP.sample(n, 32))
    a["feature.u"], a["feature.v"] = (pa.array(x) for x in pair(0.8))
    b["feature.u"], b["feature.v"] = (pa.array(x) for x in pair(-0.8))
    comparison, v = _compare(a, b)
    moved = {r.name for r in comparison.results if r.status == "moved"}
    assert moved == {"multivariate.pca_error"} and v.verdict != "stable"
    joint = next(r for r in comparison.results if r.name == "multivariate.pca_error")
    assert joint.effect > joint.floor  # the candidate's rows are reconstructed worse


def test_a_change_of_spread_is_a_move_read_as_wasserstein_not_negligible() -> None:
    """A feature whose SD shrank by 40% keeps its mean: the mean-shift interval stays inside the floor,
    KS is significant, and the Wasserstein distance (in baseline SDs) decides and is reported."""
    rng = np.random.default_rng(8)
    a, b = dict(POP.sample(N, 41)), dict(POP.sample(N, 42, shifted=True))
    a["feature.noise"] = pa.array(rng.normal(5.0, 2.0, N))
    b["feature.noise"] = pa.array(rng.normal(5.0, 1.2, N))
    comparison, v = _compare(a, b)
    noise = next(r for r in comparison.results if r.name == "feature.noise")
    assert noise.status == "moved" and noise.effect_name == "wasserstein_sd"
    assert 0.25 < noise.ci_low <= noise.effect <= noise.ci_high < 0.4  # E|X - 0.6 X| / 1 = 0.4 x 0.8 = 0.32
    assert v.verdict != "stable"
    # a plain shift of the mean is still read as a mean shift
    shifted = next(r for r in comparison.results if r.name == "feature.c03")
    assert shifted.status == "moved" and shifted.effect_name == "mean_shift_sd"
