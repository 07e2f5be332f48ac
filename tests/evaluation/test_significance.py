"""Paired tests against scipy references (1e-9), and compare_paired's verdicts."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from scipy import stats

from shipyard.errors import EvaluationError
from shipyard.evaluation.metrics import MetricInputError, absolute_error, mae, r2, roc_auc
from shipyard.evaluation.significance import (
    compare_paired,
    mcnemar,
    paired_bootstrap_delta,
    paired_t_test,
    wilcoxon_signed_rank,
)

TOL = 1e-9
ALTERNATIVES = ["two-sided", "less", "greater"]


def _errors(b: int, c: int, both: int = 5, neither: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Per-row errors with b rows only the candidate gets wrong and c only the champion."""
    cand = np.array([1] * b + [0] * c + [1] * both + [0] * neither)
    champ = np.array([0] * b + [1] * c + [1] * both + [0] * neither)
    return cand, champ


@pytest.fixture
def losses() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    champ = rng.exponential(1.0, size=300)
    cand = champ * rng.uniform(0.7, 1.2, size=300)
    cand[:20] = champ[:20]  # zero differences
    return np.round(cand, 2), np.round(champ, 2)  # and ties


# --- McNemar --------------------------------------------------------------------------


@pytest.mark.parametrize("alternative", ALTERNATIVES)
@pytest.mark.parametrize(("b", "c"), [(3, 12), (7, 7), (0, 9), (10, 2)])
def test_mcnemar_exact_equals_binomtest_below_25_discordant_rows(
    b: int, c: int, alternative: str
) -> None:
    result = mcnemar(*_errors(b, c), alternative=alternative)  # type: ignore[arg-type]
    expected = stats.binomtest(b, b + c, 0.5, alternative=alternative).pvalue
    assert result.test == "mcnemar-exact"
    assert result.pvalue == pytest.approx(expected, abs=TOL)
    assert (result.candidate_only_errors, result.champion_only_errors) == (b, c)
    assert result.n == b + c + 55


@pytest.mark.parametrize(("b", "c"), [(20, 45), (100, 130), (60, 60), (61, 60)])
def test_mcnemar_chi_square_with_continuity_correction_from_25_discordant_rows(
    b: int, c: int
) -> None:
    result = mcnemar(*_errors(b, c))
    statistic = max(abs(b - c) - 1, 0) ** 2 / (b + c)
    assert result.test == "mcnemar-chi2"
    assert result.statistic == pytest.approx(statistic, abs=TOL)
    assert result.pvalue == pytest.approx(stats.chi2.sf(statistic, 1), abs=TOL)
    # the corrected approximation tracks the exact test closely
    assert result.pvalue == pytest.approx(stats.binomtest(b, b + c).pvalue, abs=0.01)


@pytest.mark.parametrize("alternative", ["less", "greater"])
def test_mcnemar_one_sided_approximation_tracks_the_exact_tail(alternative: str) -> None:
    result = mcnemar(*_errors(40, 62), alternative=alternative)  # type: ignore[arg-type]
    z = (40 - 62 + (1 if alternative == "less" else -1)) / np.sqrt(102)
    expected = stats.norm.cdf(z) if alternative == "less" else stats.norm.sf(z)
    assert result.pvalue == pytest.approx(expected, abs=TOL)
    exact = stats.binomtest(40, 102, alternative=alternative).pvalue
    assert result.pvalue == pytest.approx(exact, abs=0.005)


def test_mcnemar_less_means_the_candidate_errs_less() -> None:
    cand, champ = _errors(2, 15)
    assert mcnemar(cand, champ, alternative="less").pvalue < 0.01
    assert mcnemar(cand, champ, alternative="greater").pvalue > 0.99


def test_mcnemar_without_discordant_rows_finds_no_difference() -> None:
    result = mcnemar([1, 0, 1], [1, 0, 1])
    assert (result.pvalue, result.statistic) == (1.0, 0.0)


# --- t and Wilcoxon -------------------------------------------------------------------


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_paired_t_test_equals_scipy_ttest_rel(
    losses: tuple[np.ndarray, np.ndarray], alternative: str
) -> None:
    cand, champ = losses
    result = paired_t_test(cand, champ, alternative=alternative)  # type: ignore[arg-type]
    expected = stats.ttest_rel(cand, champ, alternative=alternative)
    assert result.statistic == pytest.approx(expected.statistic, abs=TOL)
    assert result.pvalue == pytest.approx(expected.pvalue, abs=TOL)
    assert result.n == 300


def test_paired_t_test_with_constant_differences_is_decisive_not_nan() -> None:
    assert paired_t_test([1.0, 2.0, 3.0], [2.0, 3.0, 4.0], alternative="less").pvalue == 0.0
    assert paired_t_test([1.0, 2.0], [1.0, 2.0]).pvalue == 1.0


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_wilcoxon_equals_scipy_asymptotic_with_zeros_and_ties(
    losses: tuple[np.ndarray, np.ndarray], alternative: str
) -> None:
    cand, champ = losses
    result = wilcoxon_signed_rank(cand, champ, alternative=alternative)  # type: ignore[arg-type]
    expected = stats.wilcoxon(cand, champ, method="asymptotic", alternative=alternative)
    assert result.statistic == pytest.approx(expected.statistic, abs=TOL)
    assert result.pvalue == pytest.approx(expected.pvalue, abs=TOL)


def test_wilcoxon_on_zero_one_losses_equals_scipy() -> None:
    cand, champ = _errors(30, 55)
    expected = stats.wilcoxon(cand, champ, method="asymptotic")
    assert wilcoxon_signed_rank(cand, champ).pvalue == pytest.approx(expected.pvalue, abs=TOL)


def test_wilcoxon_with_all_differences_zero_finds_no_difference() -> None:
    assert wilcoxon_signed_rank([1.0, 2.0], [1.0, 2.0]).pvalue == 1.0


# --- paired bootstrap -----------------------------------------------------------------


def test_paired_bootstrap_delta_equals_scipy_paired_bootstrap() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=200)
    cand, champ = y + rng.normal(0, 0.5, 200), y + rng.normal(0, 0.6, 200)
    ours = paired_bootstrap_delta(r2, y, cand, champ, n_resamples=300, seed=5)

    def delta(t: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
        return r2(t, a) - r2(t, b)

    theirs = stats.bootstrap(
        (y, cand, champ), delta, paired=True, vectorized=False, n_resamples=300,
        method="percentile", rng=np.random.default_rng(5),
    )  # fmt: skip
    assert ours.low == pytest.approx(theirs.confidence_interval.low, abs=TOL)
    assert ours.high == pytest.approx(theirs.confidence_interval.high, abs=TOL)
    assert ours.estimate == pytest.approx(r2(y, cand) - r2(y, champ), abs=TOL)


@pytest.mark.parametrize("metric", [mae, r2, roc_auc])
def test_paired_bootstrap_delta_fast_path_equals_the_generic_one(metric) -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, size=300).astype(float)
    cand, champ = np.round(y + rng.normal(0, 1.0, 300), 1), y + rng.normal(0, 1.1, 300)  # ties
    fast = paired_bootstrap_delta(metric, y, cand, champ, n_resamples=100, seed=3)
    slow = paired_bootstrap_delta(partial(metric), y, cand, champ, n_resamples=100, seed=3)
    assert (fast.low, fast.high) == (
        pytest.approx(slow.low, abs=TOL),
        pytest.approx(slow.high, abs=TOL),
    )


# --- compare_paired -------------------------------------------------------------------


@pytest.fixture
def classifiers() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, size=2_000)
    flip = lambda rate: np.where(rng.uniform(size=y.size) < rate, 1 - y, y)  # noqa: E731
    return y, flip(0.10), flip(0.16)


def test_compare_paired_names_the_better_classifier_with_mcnemar(classifiers) -> None:
    y, good, worse = classifiers
    result = compare_paired(y, good, worse, metric="accuracy")
    assert result.test == "mcnemar" and result.better == "candidate"
    assert result.delta == pytest.approx(result.candidate - result.champion, abs=TOL)
    assert 0 < result.ci_low < result.delta < result.ci_high
    errors = (good != y).astype(int), (worse != y).astype(int)
    assert result.pvalue == pytest.approx(mcnemar(*errors).pvalue, abs=TOL)
    assert compare_paired(y, worse, good, metric="accuracy").better == "champion"


def test_compare_paired_one_sided_never_calls_a_worse_candidate_better(classifiers) -> None:
    y, good, worse = classifiers
    result = compare_paired(y, worse, good, metric="accuracy", alternative="candidate-better")
    assert result.better == "neither" and result.pvalue > 0.5


def test_compare_paired_finds_no_winner_between_identical_predictions(classifiers) -> None:
    y, good, _ = classifiers
    result = compare_paired(y, good, good.copy(), metric="accuracy")
    assert (result.better, result.pvalue, result.delta) == ("neither", 1.0, 0.0)


def test_compare_paired_regression_uses_a_paired_t_test_on_the_per_row_loss() -> None:
    rng = np.random.default_rng(4)
    y = rng.normal(size=500)
    cand, champ = y + rng.normal(0, 1.0, 500), y + rng.normal(0, 1.3, 500)
    result = compare_paired(y, cand, champ, metric="mae")
    expected = stats.ttest_rel(absolute_error(y, cand), absolute_error(y, champ))
    assert result.test == "t" and result.better == "candidate"
    assert result.pvalue == pytest.approx(expected.pvalue, abs=TOL)
    assert result.ci_high < 0  # lower MAE is better: the delta is negative
    wil = compare_paired(y, cand, champ, metric="mae", test="wilcoxon")
    ref = stats.wilcoxon(absolute_error(y, cand), absolute_error(y, champ), method="asymptotic")
    assert wil.pvalue == pytest.approx(ref.pvalue, abs=TOL)
    r2_result = compare_paired(y, cand, champ, metric="r2")
    assert r2_result.better == "candidate" and r2_result.delta > 0


def test_compare_paired_bootstraps_metrics_without_a_per_row_loss() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, size=600)
    sharp, blunt = y + rng.normal(0, 0.5, 600), y + rng.normal(0, 1.5, 600)
    result = compare_paired(y, sharp, blunt, metric="roc_auc", n_resamples=300)
    assert result.test == "bootstrap" and result.better == "candidate"
    assert result.pvalue == pytest.approx(
        2 / 301, abs=TOL
    )  # two-sided; no resample favoured the champion
    assert result.delta == pytest.approx(roc_auc(y, sharp) - roc_auc(y, blunt), abs=TOL)


def test_compare_paired_one_sided_bootstrap_p_is_half_the_two_sided_one() -> None:
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, size=300)
    a, b = y + rng.normal(0, 1.2, 300), y + rng.normal(0, 1.25, 300)
    two = compare_paired(y, a, b, metric="roc_auc", n_resamples=200)
    one = compare_paired(y, a, b, metric="roc_auc", n_resamples=200, alternative="candidate-better")
    assert min(1.0, 2 * min(one.pvalue, 1 - one.pvalue + 1 / 201)) == pytest.approx(
        two.pvalue, abs=0.02
    )


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: mcnemar([1, 0], [1]), "champion_errors has 1 rows but candidate_errors has 2"),
        (lambda: mcnemar([1, 2], [1, 0]), "values other than 0 and 1"),
        (lambda: mcnemar([], []), "shape"),
        (lambda: paired_t_test([1.0], [2.0]), "at least 2"),
        (lambda: paired_t_test([1.0, np.nan], [1.0, 2.0]), "NaN"),
        (lambda: paired_t_test([1.0, 2.0], [1.0, 2.0], alternative="up"), "alternative is 'up'"),  # type: ignore[arg-type]
        (lambda: wilcoxon_signed_rank(["a"], [1.0]), "not numeric"),
        (lambda: compare_paired([1, 0], [1, 0], [1, 0], metric="auc"), "metric is 'auc'"),
        (
            lambda: compare_paired(
                [1.0, 2.0], [1.0, 2.0], [1.0, 2.0], metric="rmse", test="mcnemar"
            ),
            "mcnemar",
        ),
        (
            lambda: compare_paired([1, 0], [0.2, 0.7], [0.1, 0.8], metric="roc_auc", test="t"),
            "per-row loss",
        ),
        (lambda: compare_paired([1, 0], [1, 0], [1], metric="accuracy"), "champion has 1 rows"),
        (lambda: compare_paired([1, 0], [1, 0], [1, 0], alpha=5), "alpha is 5"),
        (
            lambda: compare_paired([1, 0], [1, 0], [1, 0], alternative="less"),
            "alternative is 'less'",
        ),  # type: ignore[arg-type]
        (
            lambda: paired_bootstrap_delta(mae, [1.0, 2.0], [1.0, 2.0], [1.0, 2.0], confidence=1.0),
            "confidence",
        ),
    ],
)
def test_bad_input_raises_a_metric_input_error_naming_the_value(call, match: str) -> None:
    with pytest.raises(MetricInputError, match=match) as info:
        call()
    assert isinstance(info.value, EvaluationError) and isinstance(info.value, ValueError)
