"""Metrics against scikit-learn and scipy references (1e-9); bootstrap against scipy.stats.bootstrap.

Named test_evaluation_metrics.py, not test_metrics.py, so that it cannot clash with a
monitoring metrics test module (tests directories have no __init__.py).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from shipyard.errors import EvaluationError
from shipyard.evaluation.metrics import (
    MetricInputError,
    absolute_error,
    accuracy,
    bootstrap_ci,
    bootstrap_distribution,
    brier_per_row,
    brier_score,
    calibration_bins,
    confusion_matrix,
    f1,
    log_loss,
    log_loss_per_row,
    mae,
    mape,
    pr_curve,
    precision,
    r2,
    recall,
    resampled_means,
    rmse,
    roc_auc,
    roc_curve,
    squared_error,
    zero_one_loss,
)

TOL = 1e-9


@pytest.fixture
def regression() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.normal(10.0, 3.0, size=400)
    return y, y + rng.normal(0.0, 1.0, size=400)


@pytest.fixture
def binary() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=500)
    prob = np.clip(0.5 * y + rng.uniform(0.0, 0.5, size=500), 0.0, 1.0)
    prob[:3] = [0.0, 1.0, 1.0]  # log loss must clip these
    return y, prob


def test_regression_metrics_equal_scikit_learn(regression: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = regression
    assert mae(y, p) == pytest.approx(skm.mean_absolute_error(y, p), abs=TOL)
    assert rmse(y, p) == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)), abs=TOL)
    assert r2(y, p) == pytest.approx(skm.r2_score(y, p), abs=TOL)
    assert mape(y, p) == pytest.approx(skm.mean_absolute_percentage_error(y, p), abs=TOL)


def test_per_example_losses_average_to_their_metric(
    regression: tuple[np.ndarray, np.ndarray], binary: tuple[np.ndarray, np.ndarray]
) -> None:
    y, p = regression
    assert np.mean(absolute_error(y, p)) == pytest.approx(mae(y, p), abs=TOL)
    assert np.sqrt(np.mean(squared_error(y, p))) == pytest.approx(rmse(y, p), abs=TOL)
    yb, prob = binary
    labels = (prob > 0.5).astype(int)
    assert 1 - np.mean(zero_one_loss(yb, labels)) == pytest.approx(
        skm.accuracy_score(yb, labels), abs=TOL
    )
    assert np.mean(log_loss_per_row(yb, prob)) == pytest.approx(skm.log_loss(yb, prob), abs=TOL)
    assert np.mean(brier_per_row(yb, prob)) == pytest.approx(
        skm.brier_score_loss(yb, prob), abs=TOL
    )


def test_classification_metrics_equal_scikit_learn(binary: tuple[np.ndarray, np.ndarray]) -> None:
    y, prob = binary
    labels = (prob > 0.6).astype(int)
    assert accuracy(y, labels) == pytest.approx(skm.accuracy_score(y, labels), abs=TOL)
    assert precision(y, labels) == pytest.approx(skm.precision_score(y, labels), abs=TOL)
    assert recall(y, labels) == pytest.approx(skm.recall_score(y, labels), abs=TOL)
    assert f1(y, labels) == pytest.approx(skm.f1_score(y, labels), abs=TOL)
    assert roc_auc(y, prob) == pytest.approx(skm.roc_auc_score(y, prob), abs=TOL)
    assert log_loss(y, prob) == pytest.approx(skm.log_loss(y, prob), abs=TOL)
    assert brier_score(y, prob) == pytest.approx(skm.brier_score_loss(y, prob), abs=TOL)


def test_multiclass_log_loss_and_auc_follow_the_class_column_order() -> None:
    rng = np.random.default_rng(2)
    y = rng.choice(["cat", "dog", "eel"], size=300)
    prob = rng.dirichlet([1.0, 1.0, 1.0], size=300)
    assert log_loss(y, prob) == pytest.approx(skm.log_loss(y, prob), abs=TOL)
    assert roc_auc(y, prob) == pytest.approx(skm.roc_auc_score(y, prob, multi_class="ovr"), abs=TOL)
    shuffled = ["eel", "cat", "dog"]
    per_row = log_loss_per_row(y, prob[:, [2, 0, 1]], classes=shuffled)
    assert np.mean(per_row) == pytest.approx(skm.log_loss(y, prob), abs=TOL)


def test_macro_averaged_precision_recall_f1_equal_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    y, pred = rng.integers(0, 3, size=200), rng.integers(0, 3, size=200)
    for ours, theirs in (
        (precision, skm.precision_score),
        (recall, skm.recall_score),
        (f1, skm.f1_score),
    ):
        assert ours(y, pred, average="macro") == pytest.approx(
            theirs(y, pred, average="macro"), abs=TOL
        )


def test_curves_equal_scikit_learn(binary: tuple[np.ndarray, np.ndarray]) -> None:
    y, prob = binary
    roc = roc_curve(y, prob)
    fpr, tpr, thr = skm.roc_curve(y, prob)
    np.testing.assert_allclose(roc.fpr, fpr, atol=TOL)
    np.testing.assert_allclose(roc.tpr, tpr, atol=TOL)
    np.testing.assert_array_equal(roc.thresholds, thr)
    assert roc.auc == pytest.approx(skm.roc_auc_score(y, prob), abs=TOL)
    pr = pr_curve(y, prob)
    prec, rec, pthr = skm.precision_recall_curve(y, prob)
    np.testing.assert_allclose(pr.precision, prec, atol=TOL)
    np.testing.assert_allclose(pr.recall, rec, atol=TOL)
    np.testing.assert_array_equal(pr.thresholds, pthr)
    assert pr.average_precision == pytest.approx(skm.average_precision_score(y, prob), abs=TOL)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_calibration_bins_equal_scikit_learn_for_filled_bins(
    binary: tuple[np.ndarray, np.ndarray], strategy: str
) -> None:
    y, prob = binary
    curve = calibration_bins(y, prob, n_bins=10, strategy=strategy)  # type: ignore[arg-type]
    frac, mean = calibration_curve(y, prob, n_bins=10, strategy=strategy)
    filled = curve.counts > 0
    np.testing.assert_allclose(curve.fraction_positive[filled], frac, atol=TOL)
    np.testing.assert_allclose(curve.mean_predicted[filled], mean, atol=TOL)
    assert curve.counts.sum() == y.size
    assert np.all(np.isnan(curve.mean_predicted[~filled]))
    ece = np.sum(curve.counts[filled] / y.size * np.abs(frac - mean))
    assert curve.ece == pytest.approx(ece, abs=TOL)


def test_confusion_matrix_equals_scikit_learn_with_labels_kept() -> None:
    y, pred = np.array(["a", "b", "b", "c"]), np.array(["a", "b", "c", "c"])
    cm = confusion_matrix(y, pred)
    assert cm.labels.tolist() == ["a", "b", "c"]
    np.testing.assert_array_equal(cm.counts, skm.confusion_matrix(y, pred))
    assert confusion_matrix(y, pred, labels=["c", "b", "a"]).counts[0].tolist() == [1, 0, 0]


# --- bootstrap ------------------------------------------------------------------------


def test_bootstrap_ci_equals_scipy_percentile_bootstrap(
    regression: tuple[np.ndarray, np.ndarray],
) -> None:
    y, p = regression
    ours = bootstrap_ci(r2, y, p, n_resamples=400, confidence=0.9, seed=42)
    theirs = stats.bootstrap(
        (y, p), r2, paired=True, vectorized=False, n_resamples=400,
        confidence_level=0.9, method="percentile", rng=np.random.default_rng(42),
    )  # fmt: skip
    assert ours.low == pytest.approx(theirs.confidence_interval.low, abs=TOL)
    assert ours.high == pytest.approx(theirs.confidence_interval.high, abs=TOL)
    assert ours.estimate == pytest.approx(r2(y, p), abs=TOL)
    assert ours.low < ours.estimate < ours.high


@pytest.mark.parametrize("metric", [mae, rmse, r2, accuracy, log_loss, brier_score, roc_auc])
def test_vectorised_bootstrap_equals_calling_the_metric_on_each_resample(
    metric, binary, regression
) -> None:
    y, p = regression if metric in (mae, rmse, r2) else binary
    if metric is accuracy:
        p = (p > 0.5).astype(int)
    fast = bootstrap_ci(metric, y, p, n_resamples=150, seed=3)
    slow = bootstrap_ci(partial(metric), y, p, n_resamples=150, seed=3)  # a wrapper: no fast path
    assert (fast.low, fast.high) == (
        pytest.approx(slow.low, abs=TOL),
        pytest.approx(slow.high, abs=TOL),
    )


def test_resampled_means_are_batched_without_changing_the_resamples(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = np.random.default_rng(4).normal(size=(50, 2))
    one_batch = resampled_means(values, n_resamples=40, seed=9)
    indices = np.random.default_rng(9).integers(0, 50, (40, 50))
    np.testing.assert_allclose(one_batch, [values[idx].mean(axis=0) for idx in indices], atol=TOL)
    monkeypatch.setattr("shipyard.evaluation.metrics._BATCH_CELLS", 700)  # 7 resamples a batch
    np.testing.assert_allclose(resampled_means(values, n_resamples=40, seed=9), one_batch, atol=TOL)
    generic = bootstrap_distribution(lambda v: v[:, 1].mean(), values, n_resamples=40, seed=9)
    np.testing.assert_allclose(generic, one_batch[:, 1], atol=TOL)


def test_bootstrap_ci_covers_a_known_mean_about_as_often_as_promised() -> None:
    rng = np.random.default_rng(5)
    hits = 0
    for seed in range(200):
        y = rng.normal(size=60)
        ci = bootstrap_ci(mae, y, np.zeros(60), n_resamples=300, confidence=0.9, seed=seed)
        hits += ci.low <= np.sqrt(2 / np.pi) <= ci.high  # E|N(0,1)|
    assert 0.8 <= hits / 200 <= 0.97


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: mae([], []), "y_true is empty"),
        (lambda: mae([1.0, 2.0], [1.0]), "y_pred has 1 rows but y_true has 2"),
        (lambda: rmse([1.0, np.nan], [1.0, 2.0]), "y_true holds 1 NaN"),
        (lambda: r2([1.0, 1.0], [1.0, 2.0]), "R2 is undefined"),
        (lambda: mape([0.0, 1.0], [1.0, 1.0]), "holds 1 zeros"),
        (lambda: accuracy([1, 0], [1]), "y_pred has 1 rows"),
        (lambda: accuracy(np.array([1.0, np.nan]), [1, 0]), "NaN labels"),
        (lambda: roc_auc([1, 1, 1], [0.2, 0.4, 0.9]), "one class"),
        (lambda: log_loss([0, 1], [0.5, 1.5]), "outside"),
        (lambda: log_loss([0, 1, 2], np.full((3, 2), 0.5)), "2 columns for 3 classes"),
        (lambda: log_loss([0, 0], [0.2, 0.3]), "one class"),
        (
            lambda: log_loss_per_row(["a", "z"], np.full((2, 2), 0.5), classes=["a", "b"]),
            r"\['z'\] not in",
        ),
        (lambda: brier_score([0, 1], [0.5, np.nan]), "NaN"),
        (lambda: calibration_bins([0, 1], [0.1, 0.9], strategy="log"), "strategy is 'log'"),  # type: ignore[arg-type]
        (lambda: bootstrap_ci(mae, [1.0], [1.0], n_resamples=0), "n_resamples is 0"),
        (lambda: bootstrap_ci(mae, [1.0, 2.0], [1.0], n_resamples=10), "has \\(1,\\) rows, not 2"),
        (lambda: bootstrap_ci(mae, [1.0], [1.0], confidence=95), "confidence is 95"),
        (
            lambda: bootstrap_ci(roc_auc, [0, 0, 0, 1], [0.1, 0.2, 0.3, 0.9], seed=1),
            "bootstrap resample",
        ),
        (
            lambda: bootstrap_ci(partial(roc_auc), [0, 0, 0, 1], [0.1, 0.2, 0.3, 0.9]),
            "bootstrap resample",
        ),
        (
            lambda: bootstrap_ci(r2, [0.0, 0.0, 0.0, 1.0], [0.1, 0.2, 0.3, 0.9], seed=1),
            "bootstrap resample",
        ),
    ],
)
def test_bad_input_raises_a_metric_input_error_naming_the_value(call, match: str) -> None:
    with pytest.raises(MetricInputError, match=match) as info:
        call()
    assert isinstance(info.value, EvaluationError) and isinstance(info.value, ValueError)
    assert info.value.hint
