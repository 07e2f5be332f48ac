"""Row statistics used inside bootstrap loops equal scikit-learn's metric on the resample."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from sklearn import metrics as skm

from shipyard.evaluation import metrics
from shipyard.evaluation import resample_metrics as fast
from shipyard.evaluation.scorecard import score


@pytest.fixture(params=range(5))
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    return np.random.default_rng(request.param)


def draw(rng: np.random.Generator, n: int) -> np.ndarray:
    """One bootstrap resample's row indices."""
    return rng.integers(0, n, n)


def test_binary_label_statistics_equal_sklearn(rng: np.random.Generator) -> None:
    n = int(rng.integers(5, 300))
    t = np.where(rng.random(n) < 0.4, "yes", "no")
    p = np.where(rng.random(n) < 0.5, "yes", "no") if rng.random() < 0.8 else np.full(n, "no")
    rows = draw(rng, n)
    for kind, exact in (
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
        ("f1", skm.f1_score),
    ):
        want = exact(t[rows], p[rows], pos_label="yes", zero_division=0.0)
        assert fast.label_statistic(kind, t, p, "yes")(rows) == pytest.approx(want, abs=1e-12)


def test_macro_label_statistics_equal_sklearn(rng: np.random.Generator) -> None:
    labels = np.array(["a", "b", "c", "d"], dtype=object)
    t = labels[rng.integers(0, 3, 60)]  # "d" only ever predicted, and rarely
    p = labels[np.minimum(rng.integers(0, 4, 60), rng.integers(0, 4, 60))]
    for _ in range(5):
        rows = draw(rng, 60)
        for kind, exact in (
            ("precision", skm.precision_score),
            ("recall", skm.recall_score),
            ("f1", skm.f1_score),
        ):
            want = exact(t[rows], p[rows], average="macro", zero_division=0.0)
            got = fast.label_statistic(kind, t, p, None)(rows)
            assert got == pytest.approx(want, abs=1e-12), kind


def test_auc_statistic_equals_sklearn_with_ties(rng: np.random.Generator) -> None:
    t = rng.integers(0, 2, 200)
    s = np.round(rng.random(200), 1)  # many ties
    stat = fast.auc_statistic(t, s)
    assert stat(np.arange(200)) == pytest.approx(skm.roc_auc_score(t, s), abs=1e-12)
    rows = draw(rng, 200)
    assert stat(rows) == pytest.approx(skm.roc_auc_score(t[rows], s[rows]), abs=1e-12)
    assert np.isnan(stat(np.flatnonzero(t == 1)))  # positives only


def test_ovr_auc_statistic_equals_sklearn(rng: np.random.Generator) -> None:
    t = rng.integers(0, 3, 150)
    proba = rng.dirichlet([1, 1, 1], size=150)
    rows = draw(rng, 150)
    want = skm.roc_auc_score(t[rows], proba[rows], multi_class="ovr")
    assert fast.ovr_auc_statistic(t, proba)(rows) == pytest.approx(want, abs=1e-12)
    assert np.isnan(fast.ovr_auc_statistic(t, proba)(np.flatnonzero(t != 2)))


def test_r2_and_mape_statistics_equal_sklearn(rng: np.random.Generator) -> None:
    t = rng.normal(1e6, 3, 80)  # a large offset: centring keeps R² exact
    p = t + rng.normal(0, 2, 80)
    rows = draw(rng, 80)
    assert fast.r2_statistic(t, p)(rows) == pytest.approx(skm.r2_score(t[rows], p[rows]), abs=1e-9)
    want = skm.mean_absolute_percentage_error(t[rows], p[rows])
    assert fast.mape_statistic(t, p)(rows) == pytest.approx(want, abs=1e-12)
    assert np.isnan(fast.r2_statistic(t, p)(np.zeros(10, dtype=int)))  # one row, repeated


def test_intervals_equal_the_slow_bootstrap_of_sklearn_metrics() -> None:
    """Same seed, same resamples: the row statistics change the speed, not the answer."""
    rng = np.random.default_rng(3)
    t = np.where(rng.random(150) < 0.4, "yes", "no").astype(object)
    proba_yes = np.clip(0.4 * (t == "yes") + 0.6 * rng.random(150), 0, 1)
    proba = np.column_stack([1 - proba_yes, proba_yes])
    pred = np.where(proba_yes > 0.5, "yes", "no").astype(object)
    got = {
        m.name: m
        for m in score(
            "classification", t, pred, proba, ("no", "yes"), n_bootstrap=40, confidence=0.9, seed=5
        )
    }
    slow_f1 = metrics.bootstrap_ci(
        partial(metrics.f1, pos_label="yes"), t, pred, n_resamples=40, confidence=0.9, seed=5
    )
    assert (got["f1"].low, got["f1"].high) == pytest.approx((slow_f1.low, slow_f1.high), abs=1e-12)
    slow_auc = metrics.bootstrap_ci(
        metrics.roc_auc, (t == "yes").astype(int), proba_yes, n_resamples=40, confidence=0.9, seed=5
    )
    assert (got["roc_auc"].low, got["roc_auc"].high) == pytest.approx(
        (slow_auc.low, slow_auc.high), abs=1e-12
    )
