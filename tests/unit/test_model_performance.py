"""Model performance against labels: the metrics against their textbook definitions, CBPE's estimate
against the realised accuracy under covariate shift (interval coverage over seeds), no false alarm on
A/A windows, a real drop found, and the warning when one class's labels arrive faster."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from scipy.stats import mannwhitneyu

from driftline.analysis.ml import estimation, metrics, performance
from driftline.analysis.ml.metrics import Labelled
from tests.ml_tables import SHIFTED_SD, classifier_rows


def test_classification_metrics_match_their_definitions() -> None:
    y = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    yhat = np.array([1, 1, 0, 0, 0, 1, 0, 1])
    p = np.array([0.9, 0.8, 0.4, 0.2, 0.1, 0.7, 0.3, 0.6])
    s = Labelled(y, yhat, p, "binary")
    tp, fp, fn = 3, 1, 1
    assert metrics.value("accuracy", s) == pytest.approx(6 / 8)
    assert metrics.value("precision", s) == pytest.approx(tp / (tp + fp))
    assert metrics.value("recall", s) == pytest.approx(tp / (tp + fn))
    assert metrics.value("f1", s) == pytest.approx(2 * tp / (2 * tp + fp + fn))
    u = mannwhitneyu(p[y == 1], p[y == 0]).statistic
    assert metrics.value("roc_auc", s) == pytest.approx(u / (4 * 4))
    expected_loss = -np.mean(np.where(y == 1, np.log(p), np.log(1 - p)))
    assert metrics.value("log_loss", s) == pytest.approx(expected_loss)
    # calibration error: ten bins of width 0.1, |mean p - positive rate| weighted by the bin's share
    bins = np.minimum((p * 10).astype(int), 9)
    ece = sum(abs(p[bins == b].sum() - y[bins == b].sum()) for b in range(10)) / len(p)
    assert metrics.value("calibration_error", s) == pytest.approx(ece)
    ties = Labelled(np.array([1, 0, 1, 0]), np.array([1, 1, 1, 0]), np.array([0.5, 0.5, 0.7, 0.2]), "binary")
    assert metrics.value("roc_auc", ties) == pytest.approx(mannwhitneyu([0.5, 0.7], [0.5, 0.2]).statistic / 4)


def test_multiclass_and_regression_metrics() -> None:
    y, yhat = np.array([0, 1, 2, 2, 1, 0]), np.array([0, 2, 2, 2, 1, 1])
    s = Labelled(y, yhat, None, "multiclass", 3)
    assert metrics.value("accuracy", s) == pytest.approx(4 / 6)
    precisions = [1 / 1, 1 / 2, 2 / 3]
    recalls = [1 / 2, 1 / 2, 2 / 2]
    assert metrics.value("precision", s) == pytest.approx(np.mean(precisions))
    assert metrics.value("recall", s) == pytest.approx(np.mean(recalls))
    assert [m.name for m in metrics.metrics_for(s)] == ["accuracy", "precision", "recall", "f1"]
    y, yhat = np.array([3.0, 0.0, 2.0, 5.0]), np.array([2.5, 0.5, 2.0, 7.0])
    r = Labelled(y, yhat, None, "regression")
    err = yhat - y
    assert metrics.value("mae", r) == pytest.approx(np.mean(np.abs(err)))
    assert metrics.value("rmse", r) == pytest.approx(np.sqrt(np.mean(err**2)))
    assert metrics.value("mape", r) == pytest.approx(np.mean([0.5 / 3, 0.0, 2 / 5]))  # the zero label left out
    assert metrics.value("r2", r) == pytest.approx(1 - np.sum(err**2) / np.sum((y - y.mean()) ** 2))


def _labelled(rows: dict[str, np.ndarray]) -> Labelled:
    return Labelled(rows["y"].astype(int), rows["pred"].astype(int), rows["p"], "binary")


@pytest.mark.slow
def test_cbpe_interval_covers_the_realised_accuracy_under_covariate_shift() -> None:
    """A calibrated model whose accuracy drops from 0.90 to 0.84 when its inputs move nearer the
    boundary: the estimate, calibrated on the labelled reference, follows the drop and its interval
    covers the realised accuracy (95% nominal; at least 17 of 20 seeds)."""
    covered, errors, realised = 0, [], []
    for seed in range(20):
        reference = _labelled(classifier_rows(5000, 100 + seed))
        window = _labelled(classifier_rows(2000, 200 + seed, sd=SHIFTED_SD))
        est = estimation.estimate(window, reference, seed=seed)["accuracy"]
        actual = metrics.value("accuracy", window)
        covered += est[1] <= actual <= est[2]
        errors.append(est[0] - actual)
        realised.append(actual)
    assert 0.82 < np.mean(realised) < 0.86 and metrics.value("accuracy", reference) > 0.88
    assert covered >= 17
    assert abs(np.mean(errors)) < 0.01


def test_cbpe_calibrates_a_miscalibrated_model_on_the_reference() -> None:
    """Scores that are overconfident (p squashed towards 0 and 1): the raw expected accuracy is wrong,
    the isotonic map learnt on the labelled reference puts it back."""
    rows = classifier_rows(8000, 5)
    squashed = np.clip(rows["p"] ** 3 / (rows["p"] ** 3 + (1 - rows["p"]) ** 3), 0, 1)
    reference = Labelled(rows["y"].astype(int), rows["pred"].astype(int), squashed, "binary")
    other = classifier_rows(3000, 6)
    window = Labelled(
        other["y"].astype(int),
        other["pred"].astype(int),
        np.clip(other["p"] ** 3 / (other["p"] ** 3 + (1 - other["p"]) ** 3), 0, 1),
        "binary",
    )
    naive = float(np.mean(np.where(window.yhat == 1, window.p, 1 - window.p)))
    est = estimation.estimate(window, reference, reps=100)["accuracy"]
    actual = metrics.value("accuracy", window)
    assert abs(naive - actual) > 0.04  # the raw probabilities overstate accuracy
    assert est[1] <= actual <= est[2] and abs(est[0] - actual) < 0.02


def _rows(
    n: int,
    seed: int,
    start: float,
    sd: float = 1.0,
    flip: float = 0.0,
    labelled: float = 1.0,
    pos_delay: float = 3600.0,
    neg_delay: float = 3600.0,
    mean: float = 0.0,
) -> performance.Rows:
    r = classifier_rows(n, seed, sd=sd, flip=flip, mean=mean)
    rng = np.random.default_rng(seed + 1)
    has = rng.random(n) < labelled
    label = np.where(r["y"], "fraud", "legit").astype(object)
    label[~has] = None
    delay = np.where(r["y"], pos_delay, neg_delay)
    delay[~has] = np.nan
    proba = pa.array(
        [[("fraud", float(p)), ("legit", float(1 - p))] for p in r["p"]], pa.map_(pa.string(), pa.float64())
    )
    return performance.Rows(
        start + np.arange(n) * 20.0,
        np.full(n, np.nan),
        np.where(r["pred"], "fraud", "legit").astype(object),
        proba,
        np.full(n, np.nan),
        label,
        delay,
    )


@pytest.mark.slow
def test_a_a_windows_raise_no_performance_alarm() -> None:
    alarms = 0
    for seed in range(12):
        perf = performance.evaluate(
            _rows(3000, seed, 0.0), _rows(3000, 1000 + seed, 86_400.0 * 3), reps=200, positive="fraud"
        )
        assert perf is not None and perf.positive == "fraud" and perf.task == "binary"
        assert len(perf.windows) == 1 and not perf.windows[0].provisional
        alarms += bool(performance.worse(perf))
    assert alarms <= 1


def test_a_real_drop_is_found_and_a_provisional_window_is_never_judged() -> None:
    base = _rows(4000, 1, 0.0)
    drop = _rows(4000, 2, 86_400.0 * 3, flip=0.12)  # concept drift: 12% of labels flipped
    perf = performance.evaluate(base, drop, reps=200, positive="fraud")
    assert perf is not None
    fell = {m.name for _, m in performance.worse(perf)}
    assert "accuracy" in fell
    acc = next(m for m in perf.windows[0].metrics if m.name == "accuracy")
    assert acc.difference is not None and acc.difference < -0.05 and acc.p_adjusted is not None
    # CBPE does not see concept drift: the estimate stays near the baseline while the realised value fell
    assert acc.estimated is not None and acc.estimated - acc.value > 0.05
    partial = _rows(4000, 2, 86_400.0 * 3, flip=0.12, labelled=0.3)
    perf = performance.evaluate(base, partial, reps=200, positive="fraud")
    assert perf is not None and perf.windows[0].provisional
    assert {m.status for m in perf.windows[0].metrics} == {"provisional"}
    assert not performance.worse(perf)


def test_windows_by_count_and_by_day() -> None:
    rows = _rows(1000, 3, 0.0)  # one inference every 20 s: 20,000 s, within one day
    assert [len(i) for _, i in performance.split_windows(rows, "400")] == [400, 400, 200]
    assert len(performance.split_windows(rows, "day")) == 1
    assert len(performance.split_windows(rows, "hour")) == 6


def test_faster_positive_labels_are_warned_about() -> None:
    base = _rows(3000, 1, 0.0)
    cand = _rows(3000, 2, 86_400.0 * 3, labelled=0.5, pos_delay=3600.0, neg_delay=5 * 86_400.0)
    perf = performance.evaluate(base, cand, reps=100, positive="fraud")
    assert perf is not None and perf.warnings and "'fraud' arrive faster" in perf.warnings[0]
    even = performance.evaluate(base, _rows(3000, 2, 86_400.0 * 3, labelled=0.5), reps=100, positive="fraud")
    assert even is not None and not even.warnings


def test_task_and_positive_class() -> None:
    rows = _rows(300, 1, 0.0, mean=-0.5)
    assert performance.task_of(rows, rows, None)[:2] == ("binary", "fraud")  # the rarer class
    assert performance.task_of(rows, rows, "legit")[1] == "legit"
    with pytest.raises(ValueError, match="not a class"):
        performance.task_of(rows, rows, "spam")
