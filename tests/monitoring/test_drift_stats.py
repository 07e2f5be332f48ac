"""Drift statistics against scipy references (1e-9) and straightforward re-implementations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr

from shipyard.errors import MonitoringError
from shipyard.monitoring.drift_stats import (
    DriftInputError,
    _ks_pvalues,
    adjust_pvalues,
    bin_counts,
    categorical_drift,
    category_counts,
    domain_classifier_drift,
    jensen_shannon,
    ks_columns,
    ks_test,
    numeric_drift,
    profile_drift,
    psi,
    quantile_edges,
)

TOL = 1e-9


def _reference_psi(ref_counts: np.ndarray, cur_counts: np.ndarray, eps: float = 1e-4) -> float:
    p = np.maximum(ref_counts / ref_counts.sum(), eps)
    q = np.maximum(cur_counts / cur_counts.sum(), eps)
    return float(np.sum(rel_entr(q, p) + rel_entr(p, q)))


def _loop_bin_counts(x: np.ndarray, interior_edges: np.ndarray) -> np.ndarray:
    bounds = [-np.inf, *interior_edges, np.inf]
    return np.array([np.sum((x >= lo) & (x < hi)) for lo, hi in itertools.pairwise(bounds)])


# --- KS -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n1", "n2", "shift"),
    [
        (30, 45, 0.5),  # small: kstwo's exact branches
        (200, 150, 0.3),
        (5_000, 3_000, 0.08),  # n*d^2 in [2.2, 370): the Smirnov series branch
        (20_000, 20_000, 0.03),
        (20_000, 20_000, 0.0),
        (4_000, 4_000, 1.5),  # p underflows to 0
    ],
)
def test_ks_test_equals_scipy_ks_2samp_asymp(n1: int, n2: int, shift: float) -> None:
    rng = np.random.default_rng(n1 + n2)
    ref, cur = rng.normal(size=n1), rng.normal(shift, 1.0, size=n2)
    expected = stats.ks_2samp(ref, cur, method="asymp")
    got = ks_test(ref, cur)
    assert got.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert got.pvalue == pytest.approx(expected.pvalue, abs=TOL)
    assert (got.n_reference, got.n_current) == (n1, n2)


def test_ks_handles_ties_as_scipy_does() -> None:
    rng = np.random.default_rng(1)
    ref = rng.integers(0, 5, size=3_000).astype(float)
    cur = rng.integers(0, 6, size=2_000).astype(float)
    expected = stats.ks_2samp(ref, cur, method="asymp")
    got = ks_test(ref, cur)
    assert got.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert got.pvalue == pytest.approx(expected.pvalue, abs=TOL)


def test_ks_pvalue_matches_kstwo_across_every_branch() -> None:
    # n = round(n1*n2/(n1+n2)) = 25_000: the grid crosses every branch of kstwo.sf.
    d = np.array([1e-5, 0.002, 0.005, 0.0094, 0.0095, 0.02, 0.06, 0.12, 0.2, 0.6, 1.0])
    got = _ks_pvalues(d, 50_000, 50_000)
    np.testing.assert_allclose(got, stats.kstwo.sf(d, 25_000), rtol=1e-8, atol=TOL)


def test_ks_columns_equals_a_loop_of_ks_2samp_and_leaves_input_untouched() -> None:
    rng = np.random.default_rng(2)
    ref = np.asfortranarray(rng.normal(size=(3_000, 6)))
    cur = rng.normal(np.linspace(0, 0.2, 6), 1.0, size=(2_500, 6))
    before = ref.copy()
    got = ks_columns(ref, cur)
    for j in range(6):
        expected = stats.ks_2samp(ref[:, j], cur[:, j], method="asymp")
        assert got.statistic[j] == pytest.approx(expected.statistic, abs=1e-12)
        assert got.pvalue[j] == pytest.approx(expected.pvalue, abs=TOL)
    np.testing.assert_array_equal(ref, before)


# --- PSI and Jensen-Shannon -----------------------------------------------------------


def test_numeric_drift_psi_and_js_equal_reference_binning() -> None:
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(4_000, 3))
    cur = rng.normal([0.0, 0.3, 1.0], 1.0, size=(3_000, 3))
    ref[:, 2] = np.round(ref[:, 2])  # ties repeat quantile edges
    drift = numeric_drift(ref, cur, n_bins=10)
    for j in range(3):
        edges = np.quantile(ref[:, j], np.arange(1, 10) / 10)
        rc, cc = _loop_bin_counts(ref[:, j], edges), _loop_bin_counts(cur[:, j], edges)
        assert drift.psi[j] == pytest.approx(_reference_psi(rc, cc), abs=TOL)
        assert drift.jensen_shannon[j] == pytest.approx(jensenshannon(rc, cc, base=2), abs=TOL)
        ks = stats.ks_2samp(ref[:, j], cur[:, j], method="asymp")
        assert drift.ks_pvalue[j] == pytest.approx(ks.pvalue, abs=TOL)
    assert drift.psi[0] < 0.02 < drift.psi[1] < drift.psi[2]


def test_quantile_edges_and_bin_counts_follow_the_documented_bins() -> None:
    rng = np.random.default_rng(4)
    ref, cur = rng.exponential(size=1_000), rng.exponential(2.0, size=800)
    edges = quantile_edges(ref, n_bins=5)
    np.testing.assert_allclose(edges, np.quantile(ref, [0.2, 0.4, 0.6, 0.8]))
    np.testing.assert_array_equal(bin_counts(cur, edges), _loop_bin_counts(cur, edges))
    assert quantile_edges(np.column_stack([ref, ref]), n_bins=5).shape == (2, 4)


def test_bin_counts_puts_a_value_equal_to_an_edge_in_the_bin_above() -> None:
    np.testing.assert_array_equal(bin_counts([0.5, 1.0, 1.5, 2.0], [1.0, 2.0]), [1, 2, 1])


def test_psi_is_zero_for_equal_histograms_and_matches_the_formula() -> None:
    assert psi([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0, abs=1e-15)
    ref, cur = np.array([50, 30, 20]), np.array([30, 30, 40])
    assert psi(ref, cur) == pytest.approx(_reference_psi(ref, cur), abs=TOL)


def test_psi_epsilon_keeps_empty_bins_finite_and_empty_in_both_adds_nothing() -> None:
    value = psi([100, 0], [50, 50], eps=1e-4)
    assert value == pytest.approx(
        (0.5 - 1e-4) * np.log(0.5 / 1e-4) + (0.5 - 1.0) * np.log(0.5), abs=TOL
    )
    assert psi([100, 0, 0], [50, 50, 0]) == pytest.approx(value, abs=1e-15)


@pytest.mark.parametrize(
    ("ref", "cur"),
    [([1, 2, 3], [3, 2, 1]), ([5, 0, 5], [0, 10, 0]), ([0.2, 0.3, 0.5], [0.25, 0.25, 0.5])],
)
def test_jensen_shannon_equals_scipy_base_2(ref: list[float], cur: list[float]) -> None:
    assert jensen_shannon(ref, cur) == pytest.approx(jensenshannon(ref, cur, base=2), abs=TOL)


def test_jensen_shannon_is_zero_for_equal_and_one_for_disjoint_histograms() -> None:
    assert jensen_shannon([1, 1, 0], [2, 2, 0]) == 0.0
    assert jensen_shannon([1, 0], [0, 1]) == pytest.approx(1.0, abs=1e-12)


# --- from a stored profile ------------------------------------------------------------


def test_profile_drift_bins_current_values_like_the_profile_layout() -> None:
    rng = np.random.default_rng(5)
    ref = rng.normal(size=5_000)
    edges = np.quantile(ref, np.linspace(0, 1, 11))
    inner, _ = np.histogram(ref, bins=edges)
    ref_counts = np.array([0, *inner, 0])
    cur = np.concatenate(
        [rng.normal(0.5, 1.0, size=2_000), [edges[-1], edges[0], -50.0, 50.0, 60.0]]
    )
    got = profile_drift(edges, ref_counts, cur)
    in_range, _ = np.histogram(cur[(cur >= edges[0]) & (cur <= edges[-1])], bins=edges)
    expected_counts = [np.sum(cur < edges[0]), *in_range, np.sum(cur > edges[-1])]
    np.testing.assert_array_equal(got.current_counts, expected_counts)
    assert got.psi == pytest.approx(_reference_psi(ref_counts, got.current_counts), abs=TOL)
    assert got.jensen_shannon == pytest.approx(
        jensenshannon(ref_counts, got.current_counts, base=2), abs=TOL
    )


def test_profile_drift_is_small_for_a_sample_from_the_reference_distribution() -> None:
    rng = np.random.default_rng(6)
    edges = np.quantile(rng.normal(size=10_000), np.linspace(0, 1, 11))
    ref_counts = np.array([0, *np.histogram(rng.normal(size=10_000), bins=edges)[0], 0])
    same = profile_drift(edges, ref_counts, rng.normal(size=5_000))
    shifted = profile_drift(edges, ref_counts, rng.normal(1.0, 1.0, size=5_000))
    assert same.psi < 0.1 < 0.25 < shifted.psi
    assert same.jensen_shannon < shifted.jensen_shannon


def test_profile_drift_with_no_edges_has_one_bin_and_no_drift() -> None:
    got = profile_drift([], [10], [1.0, 2.0, 3.0])
    assert got.psi == 0.0
    np.testing.assert_array_equal(got.current_counts, [3])


# --- categorical ----------------------------------------------------------------------


def test_categorical_drift_equals_chi2_contingency_without_correction() -> None:
    rng = np.random.default_rng(7)
    ref = rng.choice(["a", "b", "c", "d"], size=2_000, p=[0.4, 0.3, 0.2, 0.1])
    cur = rng.choice(["a", "b", "c", "e"], size=1_500, p=[0.3, 0.3, 0.3, 0.1])
    counts = category_counts(ref, cur)
    assert counts.categories.tolist() == ["a", "b", "c", "d", "e"]
    assert counts.reference.tolist() == [int(np.sum(ref == c)) for c in counts.categories]
    drift = categorical_drift(counts.reference, counts.current)
    chi2, p, dof, _ = stats.chi2_contingency([counts.reference, counts.current], correction=False)
    assert drift.chi2 == pytest.approx(chi2, abs=TOL)
    assert drift.pvalue == pytest.approx(p, abs=TOL)
    assert drift.dof == dof == 4
    assert drift.psi == pytest.approx(_reference_psi(counts.reference, counts.current), abs=TOL)
    assert drift.jensen_shannon == pytest.approx(
        jensenshannon(counts.reference, counts.current, base=2), abs=TOL
    )


def test_categorical_drift_leaves_out_categories_absent_from_both() -> None:
    drift = categorical_drift([30, 0, 70], [45, 0, 55])
    chi2, p, dof, _ = stats.chi2_contingency([[30, 70], [45, 55]], correction=False)
    assert (drift.chi2, drift.dof) == (pytest.approx(chi2, abs=TOL), dof)
    assert drift.pvalue == pytest.approx(p, abs=TOL)


def test_categorical_drift_of_a_single_category_is_no_drift() -> None:
    drift = categorical_drift([10], [20])
    assert (drift.chi2, drift.pvalue, drift.dof, drift.psi) == (0.0, 1.0, 0, 0.0)


# --- domain classifier ----------------------------------------------------------------


def test_domain_classifier_sees_no_drift_between_samples_of_one_distribution() -> None:
    rng = np.random.default_rng(8)
    result = domain_classifier_drift(rng.normal(size=(1_500, 4)), rng.normal(size=(1_500, 4)), cv=3)
    assert not result.drifted
    assert abs(result.auc - 0.5) < 0.05
    assert result.threshold == 0.55


def test_domain_classifier_detects_a_change_in_correlation_with_unchanged_marginals() -> None:
    rng = np.random.default_rng(9)
    ref = rng.normal(size=(1_500, 2))
    x = rng.normal(size=1_500)
    cur = np.column_stack([x, 0.9 * x + np.sqrt(1 - 0.81) * rng.normal(size=1_500)])
    per_column = ks_columns(ref, cur)
    result = domain_classifier_drift(ref, cur, cv=3)
    assert per_column.pvalue.min() > 0.001  # each feature alone looks the same
    assert result.drifted and result.auc > 0.7 and result.pvalue < 1e-6


# --- multiple testing -----------------------------------------------------------------


def _holm_loop(p: np.ndarray) -> np.ndarray:
    m, order = len(p), np.argsort(p)
    adjusted, running = np.empty(m), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def test_adjust_pvalues_matches_reference_implementations() -> None:
    p = np.random.default_rng(10).uniform(0, 0.2, size=25)
    p[3] = p[7]  # a tie
    np.testing.assert_allclose(
        adjust_pvalues(p, method="bonferroni"), np.minimum(p * 25, 1), atol=TOL
    )
    np.testing.assert_allclose(adjust_pvalues(p, method="holm"), _holm_loop(p), atol=TOL)
    np.testing.assert_allclose(
        adjust_pvalues(p, method="bh"), stats.false_discovery_control(p), atol=TOL
    )


def test_holm_rejects_at_least_what_bonferroni_rejects() -> None:
    p = np.array([0.001, 0.01, 0.012, 0.04, 0.3])
    assert np.all(adjust_pvalues(p, method="holm") <= adjust_pvalues(p, method="bonferroni"))
    assert (adjust_pvalues(p, method="holm") < 0.05).sum() == 3


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ks_test([], [1.0, 2.0]), "reference is empty"),
        (lambda: ks_test([1.0, np.nan], [1.0, 2.0]), "reference holds 1 NaN"),
        (lambda: ks_test([1.0, 2.0], [np.inf, 2.0]), "current holds 1 infinite"),
        (
            lambda: ks_columns(np.ones((5, 2)), np.ones((5, 3))),
            "current has 3 columns but reference has 2",
        ),
        (lambda: ks_columns(np.ones((2, 2, 2)), np.ones((2, 2))), "reference has 3 dimensions"),
        (lambda: ks_test(["a", "b"], [1.0]), "reference is not numeric"),
        (lambda: numeric_drift(np.ones((5, 2)), np.ones((5, 2)), n_bins=1), "n_bins is 1"),
        (lambda: psi([1, 2], [1, 2], eps=0.0), "eps is 0.0"),
        (lambda: psi([1, 2], [1, 2, 3]), "current_counts has 3 bins but reference_counts has 2"),
        (lambda: psi([1, -2], [1, 2]), "reference_counts has negative counts"),
        (lambda: jensen_shannon([0, 0], [1, 2]), "reference_counts sums to 0"),
        (lambda: bin_counts([1.0], [2.0, 1.0]), "edges are not sorted"),
        (
            lambda: profile_drift([0.0, 1.0], [1, 2], [0.5]),
            "reference_counts has 2 entries but 2 edges need 3",
        ),
        (
            lambda: category_counts(np.array(["a", None], dtype=object), ["a"]),
            "reference holds 1 missing",
        ),
        (lambda: category_counts([1.0, np.nan], [1.0]), "reference holds 1 missing"),
        (lambda: category_counts(np.array(["a", 1], dtype=object), ["a"]), "cannot be compared"),
        (lambda: adjust_pvalues([0.1, 1.5]), "outside"),
        (lambda: adjust_pvalues([0.1], method="sidak"), "method is 'sidak'"),  # type: ignore[arg-type]
        (lambda: domain_classifier_drift(np.ones((3, 2)), np.ones((3, 2)), cv=5), "too few"),
    ],
)
def test_bad_input_raises_a_drift_input_error_naming_the_value(call, match: str) -> None:
    with pytest.raises(DriftInputError, match=match) as info:
        call()
    assert isinstance(info.value, MonitoringError) and isinstance(info.value, ValueError)
    assert info.value.hint


# --- the 100k x 20 case the benchmark times (speed itself: benchmarks/) -------------


@pytest.mark.slow
def test_numeric_drift_on_100k_by_20_matches_a_ks_2samp_loop() -> None:
    rng = np.random.default_rng(11)
    ref = rng.normal(size=(100_000, 20))
    cur = rng.normal(0.02, 1.0, size=(100_000, 20))  # mild drift: the slow p-value branch
    ours = numeric_drift(ref, cur)
    loop = [stats.ks_2samp(ref[:, j], cur[:, j], method="asymp") for j in range(20)]
    np.testing.assert_allclose(ours.ks_pvalue, [r.pvalue for r in loop], atol=TOL)
    np.testing.assert_allclose(ours.ks_statistic, [r.statistic for r in loop], atol=TOL)
