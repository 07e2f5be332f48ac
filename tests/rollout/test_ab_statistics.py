"""A/B statistics against scipy references (1e-9), and the mSPRT's validity under peeking.

Named test_ab_statistics.py so it cannot clash with another test_statistics.py
(tests directories have no __init__.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from shipyard.errors import RolloutError
from shipyard.monitoring.drift_stats import bin_counts, psi, quantile_edges
from shipyard.rollout.statistics import (
    ExperimentInputError,
    mean_estimate,
    msprt_pvalues,
    prediction_shift,
    proportion_estimate,
    sample_ratio_mismatch,
    sequential_means,
    sequential_proportions,
    two_proportion_z_test,
    welch_t_test,
)

TOL = 1e-9
ALPHA = 0.05
EXPERIMENTS, LOOKS, BATCH = 1000, 50, 200
# Monte Carlo slack: the false-positive share of 1000 independent experiments has
# standard deviation sqrt(alpha (1 - alpha) / 1000) = 0.0069 at the nominal rate, so a
# valid test stays below alpha + 3 sd = 0.0707 except with probability ~0.1%.
SLACK = 3 * np.sqrt(ALPHA * (1 - ALPHA) / EXPERIMENTS)


# --- estimates ------------------------------------------------------------------------


@pytest.mark.parametrize(("k", "n"), [(0, 20), (3, 20), (20, 20), (512, 10_000)])
def test_proportion_estimate_is_the_wilson_interval_of_scipy(k: int, n: int) -> None:
    est = proportion_estimate(k, n, confidence=0.9)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.9, method="wilson")
    assert (est.low, est.high) == (pytest.approx(ci.low, abs=TOL), pytest.approx(ci.high, abs=TOL))
    assert est.value == k / n and est.method == "wilson" and est.n == n


def test_mean_estimate_is_the_t_interval_of_scipy() -> None:
    x = np.random.default_rng(0).exponential(2.0, size=40)
    est = mean_estimate(x, confidence=0.99)
    ci = stats.ttest_1samp(x, 0.0).confidence_interval(0.99)
    assert (est.low, est.high) == (pytest.approx(ci.low, abs=TOL), pytest.approx(ci.high, abs=TOL))
    assert est.value == pytest.approx(x.mean(), abs=TOL)


# --- fixed-horizon tests --------------------------------------------------------------


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_two_proportion_z_squared_equals_uncorrected_chi_square(alternative: str) -> None:
    result = two_proportion_z_test(120, 1_000, 150, 1_050, alternative=alternative)  # type: ignore[arg-type]
    chi2, p, _, _ = stats.chi2_contingency([[120, 880], [150, 900]], correction=False)
    assert result.statistic**2 == pytest.approx(chi2, abs=TOL)
    expected = {
        "two-sided": p,
        "less": stats.norm.cdf(result.statistic),
        "greater": stats.norm.sf(result.statistic),
    }
    assert result.pvalue == pytest.approx(expected[alternative], abs=TOL)
    pa, pb = 0.12, 150 / 1_050
    half = stats.norm.ppf(0.975) * np.sqrt(pa * (1 - pa) / 1_000 + pb * (1 - pb) / 1_050)
    assert (result.ci_low, result.ci_high) == (
        pytest.approx(pb - pa - half, abs=TOL),
        pytest.approx(pb - pa + half, abs=TOL),
    )


def test_two_proportion_z_test_without_any_success_finds_no_difference() -> None:
    assert two_proportion_z_test(0, 100, 0, 120).pvalue == 1.0


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_welch_t_test_equals_scipy_ttest_ind_unequal_variances(alternative: str) -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(10.0, 2.0, size=80), rng.normal(10.6, 3.5, size=50)
    result = welch_t_test(a, b, alternative=alternative, confidence=0.9)  # type: ignore[arg-type]
    expected = stats.ttest_ind(b, a, equal_var=False, alternative=alternative)
    assert result.statistic == pytest.approx(expected.statistic, abs=TOL)
    assert result.pvalue == pytest.approx(expected.pvalue, abs=TOL)
    if alternative == "two-sided":
        ci = expected.confidence_interval(0.9)
        assert (result.ci_low, result.ci_high) == (
            pytest.approx(ci.low, abs=TOL),
            pytest.approx(ci.high, abs=TOL),
        )


# --- mSPRT ----------------------------------------------------------------------------


def test_msprt_pvalues_are_the_running_minimum_of_one_over_the_mixture_likelihood_ratio() -> None:
    d = np.array([0.0, 0.02, 0.05, 0.01, 0.04])
    v = np.array([0.0, 4e-4, 2e-4, 1e-4, 5e-5])
    tau2 = 1e-3
    running, expected = 1.0, []
    for di, vi in zip(d, v, strict=True):
        if vi > 0:
            lam = np.sqrt(vi / (vi + tau2)) * np.exp(tau2 * di**2 / (2 * vi * (vi + tau2)))
            running = min(running, 1.0 / lam)
        expected.append(min(running, 1.0))
    np.testing.assert_allclose(msprt_pvalues(d, v, tau2=tau2), expected, rtol=1e-12)


def test_sequential_proportions_detects_a_real_lift_and_its_interval_covers_it() -> None:
    rng = np.random.default_rng(2)
    sa = np.cumsum(rng.binomial(BATCH, 0.10, size=LOOKS))
    sb = np.cumsum(rng.binomial(BATCH, 0.13, size=LOOKS))
    trials = np.arange(1, LOOKS + 1) * BATCH
    result = sequential_proportions(sa, trials, sb, trials, tau2=1e-4)
    assert result.rejected and result.first_rejection is not None
    assert (
        result.pvalues[result.first_rejection] <= ALPHA < result.pvalues[result.first_rejection - 1]
    )
    assert np.all(np.diff(result.pvalues) <= 0)
    assert 0 < result.ci_low <= 0.03 <= result.ci_high


def test_sequential_interval_excludes_zero_exactly_when_the_test_rejects() -> None:
    rng = np.random.default_rng(3)
    trials = np.arange(1, 21) * 300
    for lift in (0.0, 0.005, 0.01, 0.02, 0.04):
        sa = np.cumsum(rng.binomial(300, 0.2, size=20))
        sb = np.cumsum(rng.binomial(300, 0.2 + lift, size=20))
        result = sequential_proportions(sa, trials, sb, trials, tau2=4e-4)
        assert result.rejected == (result.ci_low > 0 or result.ci_high < 0)


def test_msprt_stays_valid_under_peeking_after_every_batch_where_a_naive_z_test_does_not() -> None:
    """No true difference, 1000 experiments, a look after each of 50 batches of 200 per arm."""
    rng = np.random.default_rng(4)
    shape = (EXPERIMENTS, LOOKS)
    sa = np.cumsum(rng.binomial(BATCH, 0.1, size=shape), axis=1)
    sb = np.cumsum(rng.binomial(BATCH, 0.1, size=shape), axis=1)
    trials = np.arange(1, LOOKS + 1) * BATCH
    rejected = [
        sequential_proportions(sa[i], trials, sb[i], trials, tau2=1e-4).rejected
        for i in range(EXPERIMENTS)
    ]
    msprt_rate = np.mean(rejected)
    assert msprt_rate <= ALPHA + SLACK

    # The same data, judged by a fixed-horizon z-test at every look (vectorised here;
    # checked against two_proportion_z_test on one cell).
    pa, pb, pooled = sa / trials, sb / trials, (sa + sb) / (2 * trials)
    z = (pb - pa) / np.sqrt(pooled * (1 - pooled) * 2 / trials)
    naive_p = 2 * stats.norm.sf(np.abs(z))
    cell = two_proportion_z_test(int(sa[0, 9]), int(trials[9]), int(sb[0, 9]), int(trials[9]))
    assert naive_p[0, 9] == pytest.approx(cell.pvalue, abs=TOL)
    naive_rate = np.mean((naive_p <= ALPHA).any(axis=1))
    assert naive_rate > ALPHA + SLACK  # peeking breaks the fixed-horizon test: the check can fail
    assert np.mean(naive_p[:, -1] <= ALPHA) <= ALPHA + SLACK  # looked at once, it is fine


def test_sequential_means_stays_valid_under_peeking() -> None:
    rng = np.random.default_rng(5)
    n_exp, looks, batch = 400, 20, 50
    draws = rng.normal(3.0, 2.0, size=(2, n_exp, looks * batch))
    count = np.arange(1, looks + 1) * batch
    ends = count - 1
    stats_ = []
    for arm in draws:
        sums, sq = np.cumsum(arm, axis=1)[:, ends], np.cumsum(arm**2, axis=1)[:, ends]
        mean = sums / count
        stats_.append((mean, (sq - count * mean**2) / (count - 1)))
    (ma, va), (mb, vb) = stats_
    rejected = [
        sequential_means(
            count_a=count,
            mean_a=ma[i],
            var_a=va[i],
            count_b=count,
            mean_b=mb[i],
            var_b=vb[i],
            tau2=0.04,
        ).rejected
        for i in range(n_exp)
    ]
    assert np.mean(rejected) <= ALPHA + 3 * np.sqrt(ALPHA * (1 - ALPHA) / n_exp)
    shifted = sequential_means(
        count_a=count,
        mean_a=ma[0],
        var_a=va[0],
        count_b=count,
        mean_b=mb[0] + 0.5,
        var_b=vb[0],
        tau2=0.04,
    )
    assert shifted.rejected and shifted.ci_low < 0.5 < shifted.ci_high


# --- sample ratio mismatch ------------------------------------------------------------


def test_sample_ratio_mismatch_equals_scipy_chisquare() -> None:
    result = sample_ratio_mismatch([5_200, 4_800], [50, 50])
    expected = stats.chisquare([5_200, 4_800], f_exp=[5_000, 5_000])
    assert result.statistic == pytest.approx(expected.statistic, abs=TOL)
    assert result.pvalue == pytest.approx(expected.pvalue, abs=TOL)
    assert result.mismatch
    three = sample_ratio_mismatch([8_950, 520, 530], [0.9, 0.05, 0.05])
    assert three.pvalue == pytest.approx(
        stats.chisquare([8_950, 520, 530], f_exp=[9_000, 500, 500]).pvalue, abs=TOL
    )
    assert not three.mismatch


# --- prediction shift -----------------------------------------------------------------


def test_prediction_shift_bins_numeric_predictions_at_stable_quantiles() -> None:
    rng = np.random.default_rng(6)
    stable, canary = rng.normal(size=3_000), rng.normal(0.4, 1.0, size=2_000)
    shift = prediction_shift(stable, canary)
    edges = quantile_edges(stable, n_bins=10)
    sc, cc = bin_counts(stable, edges), bin_counts(canary, edges)
    assert shift.psi == pytest.approx(psi(sc, cc), abs=TOL)
    assert shift.jensen_shannon == pytest.approx(jensenshannon(sc, cc, base=2), abs=TOL)


def test_prediction_shift_counts_class_labels() -> None:
    shift = prediction_shift(
        np.array(["no"] * 90 + ["yes"] * 10), np.array(["no"] * 70 + ["yes"] * 30)
    )
    assert shift.stable_counts.tolist() == [90, 10] and shift.canary_counts.tolist() == [70, 30]
    assert shift.jensen_shannon == pytest.approx(jensenshannon([90, 10], [70, 30], base=2), abs=TOL)
    assert prediction_shift(np.array([1, 0, 1]), np.array([1, 1, 1])).stable_counts.tolist() == [
        1,
        2,
    ]


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: proportion_estimate(5, 0), "trials is 0"),
        (lambda: proportion_estimate(6, 5), "successes is 6 > trials 5"),
        (lambda: proportion_estimate(-1, 5), "successes is -1"),
        (lambda: proportion_estimate(1, 5, confidence=1.5), "confidence is 1.5"),
        (lambda: mean_estimate([1.0]), "at least 2"),
        (lambda: mean_estimate([1.0, np.nan]), "NaN"),
        (lambda: welch_t_test([], [1.0, 2.0]), "a has shape"),
        (lambda: welch_t_test([1.0, 1.0], [2.0, 2.0]), "no variance"),
        (
            lambda: two_proportion_z_test(1, 10, 1, 10, alternative="bigger"),
            "alternative is 'bigger'",
        ),  # type: ignore[arg-type]
        (
            lambda: sequential_proportions([1, 2], [10, 20], [1, 2], [10], tau2=1e-4),
            "trials_b has 1 looks, not 2",
        ),
        (
            lambda: sequential_proportions([3, 2], [10, 20], [1, 2], [10, 20], tau2=1e-4),
            "decreases between looks",
        ),
        (lambda: sequential_proportions([11], [10], [1], [10], tau2=1e-4), "exceed trials"),
        (lambda: sequential_proportions([1], [10], [1], [10], tau2=0.0), "tau2 is 0.0"),
        (
            lambda: sequential_proportions([1], [10], [1], [10], tau2=1e-4, alpha=0.0),
            "alpha is 0.0",
        ),
        (lambda: msprt_pvalues([0.1], [0.1], tau2=-1.0), "tau2 is -1.0"),
        (lambda: sample_ratio_mismatch([10], [1]), "one count and one weight"),
        (lambda: sample_ratio_mismatch([10, 5], [1, 0]), "weights are"),
        (lambda: sample_ratio_mismatch([10.5, 5.0], [1, 1]), "counts are"),
        (lambda: prediction_shift([], [1.0]), "stable has shape"),
        (lambda: prediction_shift([1.0], [np.nan]), "canary holds NaN"),
    ],
)
def test_bad_input_raises_an_experiment_input_error_naming_the_value(call, match: str) -> None:
    with pytest.raises(ExperimentInputError, match=match) as info:
        call()
    assert isinstance(info.value, RolloutError) and isinstance(info.value, ValueError)
