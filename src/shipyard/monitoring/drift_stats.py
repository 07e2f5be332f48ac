"""Drift statistics: how far current feature values have moved from the reference.

Pure functions on numpy arrays; every result is a frozen dataclass or an array.

Assumptions shared by every test here: reference and current rows are independent
draws (no autocorrelation, no duplicated rows standing for one event), and missing
values were removed beforehand (their rate is a separate check). A small p-value says
the two samples are unlikely to share a distribution; with 100k rows even a
harmless shift is "significant", so read the effect sizes (KS statistic, PSI,
Jensen-Shannon distance) to judge whether the shift matters.

Binning conventions:

- ``quantile_edges`` / ``bin_counts`` (raw reference): ``n_bins - 1`` interior edges at
  the reference quantiles ``1/n_bins .. (n_bins-1)/n_bins`` (linear interpolation, as
  ``numpy.quantile``); bins ``(-inf, e1), [e1, e2), ..., [e_last, inf)``. Ties can
  repeat an edge; the empty bin between two equal edges is empty on both sides and
  adds exactly 0 to PSI and Jensen-Shannon, so no edge is dropped.
- ``profile_drift`` (stored reference histogram, ``shipyard.data.profile`` layout):
  counts ``[underflow, bin 1 .. bin k, overflow]`` over edges ``e0 .. ek``; bins
  ``[e_i, e_i+1)``, the last one closed; values outside ``[e0, ek]`` go to the under-
  and overflow bins.
- PSI replaces a proportion of 0 by ``eps`` (default 1e-4) and does not renormalise: a
  bin empty on one side adds ``(p - eps) * ln(p / eps)``, large but finite; a bin empty
  on both sides adds 0. Jensen-Shannon needs no epsilon (0 * log 0 = 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats

from shipyard.errors import InvalidArgument, MonitoringError

DEFAULT_EPS = 1e-4


class DriftInputError(MonitoringError, InvalidArgument):
    """Values given to a drift statistic cannot be used as they are."""


@dataclass(frozen=True)
class KSResult:
    """Two-sample Kolmogorov-Smirnov test of one feature (two-sided)."""

    statistic: float
    pvalue: float
    n_reference: int
    n_current: int


@dataclass(frozen=True)
class KSColumns:
    """Two-sample KS statistic and p-value per column."""

    statistic: NDArray[np.float64]
    pvalue: NDArray[np.float64]


@dataclass(frozen=True)
class NumericDrift:
    """KS, PSI and Jensen-Shannon distance per numeric column, over reference-quantile bins."""

    ks_statistic: NDArray[np.float64]
    ks_pvalue: NDArray[np.float64]
    psi: NDArray[np.float64]
    jensen_shannon: NDArray[np.float64]
    n_bins: int


@dataclass(frozen=True)
class ProfileDrift:
    """PSI and Jensen-Shannon distance of current values against a stored histogram."""

    psi: float
    jensen_shannon: float
    current_counts: NDArray[np.int64]


@dataclass(frozen=True)
class CategoryCounts:
    """Counts of each category seen in either sample, aligned by category."""

    categories: NDArray[Any]
    reference: NDArray[np.int64]
    current: NDArray[np.int64]


@dataclass(frozen=True)
class CategoricalDrift:
    """Chi-square test of homogeneity, PSI and Jensen-Shannon distance of one categorical feature."""

    chi2: float
    pvalue: float
    dof: int
    psi: float
    jensen_shannon: float


@dataclass(frozen=True)
class DomainClassifierDrift:
    """How well a classifier tells current rows from reference rows (ROC AUC, cross-validated)."""

    auc: float
    threshold: float
    pvalue: float
    drifted: bool
    n_reference: int
    n_current: int


# --- Kolmogorov-Smirnov ---------------------------------------------------------------


def ks_test(reference: ArrayLike, current: ArrayLike) -> KSResult:
    """Two-sample two-sided KS test of one numeric feature.

    Equals ``scipy.stats.ks_2samp(reference, current, method="asymp")``: the statistic
    is the largest gap between the two empirical CDFs; the p-value is
    ``kstwo.sf(D, round(n*m/(n+m)))``. For small samples (both under ~100) that is an
    approximation; scipy's ``method="exact"`` is slightly more accurate there.

    Assumes independent rows and a continuous feature; with many ties (a discrete
    feature) the p-value is conservative, so prefer the chi-square test on counts.

    Raises:
        DriftInputError: a sample is empty, not 1-D, or holds NaN or infinity.
    """
    ref = _numeric("reference", reference, ndim=1)
    cur = _numeric("current", current, ndim=1)
    result = ks_columns(ref[:, None], cur[:, None])
    return KSResult(
        statistic=float(result.statistic[0]),
        pvalue=float(result.pvalue[0]),
        n_reference=ref.size,
        n_current=cur.size,
    )


def ks_sorted(reference: NDArray[np.float64], current: NDArray[np.float64]) -> float:
    """:func:`ks_test`'s statistic of two samples already sorted, finite and 1-D: no
    checks, no copies (the drift detector's path, which keeps its reference sorted)."""
    return float(_ks_statistics(reference[None, :], current[None, :])[0])


def ks_pvalues(statistics: ArrayLike, n_reference: int, n_current: int) -> NDArray[np.float64]:
    """:func:`ks_test`'s p-values of several KS statistics between samples of these
    sizes, from one call to ``kstwo.sf`` (each call costs ~60 us of scipy's overhead)."""
    return _ks_pvalues(np.asarray(statistics, dtype=np.float64), n_reference, n_current)


def ks_columns(reference: ArrayLike, current: ArrayLike) -> KSColumns:
    """Two-sample KS test of every column at once (see :func:`ks_test`).

    Args:
        reference: ``(n, k)`` reference rows; a 1-D array is one column.
        current: ``(m, k)`` current rows, same columns.

    Example:
        >>> ks = ks_columns(reference_matrix, current_matrix)
        >>> drifted = ks.pvalue < 0.01
    """
    ref, cur = _numeric_pair(reference, current)
    ref_sorted, cur_sorted = _sort_columns(ref), _sort_columns(cur)
    d = _ks_statistics(ref_sorted, cur_sorted)
    return KSColumns(statistic=d, pvalue=_ks_pvalues(d, ref.shape[0], cur.shape[0]))


def _sort_columns(x: NDArray[np.float64]) -> NDArray[np.float64]:
    # A sorted copy, one row per column: sorting contiguous rows is ~2.5x faster
    # than sorting along axis 0, and never touches the caller's array.
    rows = np.array(x.T, order="C")
    rows.sort(axis=1)
    return rows


def _ks_statistics(
    ref_sorted: NDArray[np.float64], cur_sorted: NDArray[np.float64]
) -> NDArray[np.float64]:
    n1, n2 = ref_sorted.shape[1], cur_sorted.shape[1]
    seen = np.arange(1, n1 + n2 + 1)
    d = np.empty(len(ref_sorted))
    # Column by column: one column's arrays stay in cache, twice as fast as 2-D ops.
    for j, (ref, cur) in enumerate(zip(ref_sorted, cur_sorted, strict=True)):
        both = np.concatenate([ref, cur])
        # Two sorted runs: the stable sort (timsort) merges them in linear time.
        order = np.argsort(both, kind="stable")
        merged = both[order]
        below_ref = np.cumsum(order < n1)
        gap = below_ref / n1 - (seen - below_ref) / n2
        # Compare the ECDFs only after the last of equal values, as scipy's
        # searchsorted(side="right") does; inside a run of ties the gap is not real.
        ties = merged[:-1] == merged[1:]
        if ties.any():
            gap[:-1][ties] = 0.0
        d[j] = max(gap.max(), -gap.min())
    return d


def _ks_pvalues(d: NDArray[np.float64], n1: int, n2: int) -> NDArray[np.float64]:
    """``scipy.stats.kstwo.sf(d, round(en))`` as ks_2samp(method="asymp") computes it.

    For n > 140 and 2.2 <= n*d^2 < 370 kstwo returns ``2 * scipy.special.smirnov(n, d)``,
    which sums the Birnbaum-Tingey series in double-double arithmetic: ~40 ms a call
    at n = 50,000, more than the whole KS statistic of 20 columns. That branch sums
    the same series here in log space (~1 ms, relative difference ~1e-10); the other
    branches are cheap and go to scipy.
    """
    big, small = sorted((float(n1), float(n2)), reverse=True)
    n = int(np.round(big * small / (big + small)))
    t = n * d
    nd2 = t * d
    series = (n > 140) & (t > 1.0) & (t < n - 1) & (d < 0.5) & (nd2 >= 2.2) & (nd2 < 370.0)
    p = np.empty_like(d)
    if np.any(~series):
        p[~series] = stats.kstwo.sf(d[~series], n)
    if np.any(series):
        p[series] = 2.0 * _smirnov_series(n, d[series])
    return np.clip(p, 0.0, 1.0)


def _smirnov_series(n: int, xs: NDArray[np.float64]) -> NDArray[np.float64]:
    """P(D+_n >= x) = x * sum_j C(n, j) (1 - x - j/n)^(n-j) (x + j/n)^(j-1), in log space."""
    j = np.arange(0, math.floor(n * (1.0 - xs.min())) + 1, dtype=np.float64)
    log_choose = special.gammaln(n + 1.0) - special.gammaln(j + 1.0) - special.gammaln(n - j + 1.0)
    out = np.empty_like(xs)
    for i, x in enumerate(xs):
        m = math.floor(n * (1.0 - x)) + 1
        jj = j[:m]
        with np.errstate(divide="ignore"):
            log_terms = (
                log_choose[:m]
                + (n - jj) * np.log(np.maximum(1.0 - x - jj / n, 0.0))
                + (jj - 1.0) * np.log(x + jj / n)
            )
        out[i] = x * np.exp(special.logsumexp(log_terms))
    return out


# --- binned distances -----------------------------------------------------------------


def quantile_edges(reference: ArrayLike, *, n_bins: int = 10) -> NDArray[np.float64]:
    """Interior bin edges at the reference quantiles: ``n_bins - 1`` of them.

    A 1-D reference gives a 1-D array; an ``(n, k)`` reference gives ``(k, n_bins - 1)``.
    """
    _check_bins(n_bins)
    ref = np.asarray(reference)
    values = _numeric("reference", ref, ndim=2 if ref.ndim == 2 else 1)
    levels = np.arange(1, n_bins) / n_bins
    return np.quantile(values, levels, axis=0).T


def bin_counts(values: ArrayLike, edges: ArrayLike) -> NDArray[np.int64]:
    """Counts of ``values`` over ``(-inf, e1), [e1, e2), ..., [e_last, inf)``: ``len(edges) + 1``."""
    x = _numeric("values", values, ndim=1)
    e = _edges("edges", edges, allow_empty=True)
    return np.bincount(np.searchsorted(e, x, side="right"), minlength=e.size + 1)


def psi(
    reference_counts: ArrayLike, current_counts: ArrayLike, *, eps: float = DEFAULT_EPS
) -> float:
    """Population stability index of two histograms over the same bins.

    ``sum((c - r) * ln(c / r))`` over bin proportions, a proportion of 0 replaced by
    ``eps``. Counts or proportions both work (each side is normalised to sum 1).
    Read it as: < 0.1 no shift, 0.1-0.25 moderate, > 0.25 large.
    """
    ref, cur = _count_pair(reference_counts, current_counts)
    return float(_psi(ref, cur, _check_eps(eps)))


def jensen_shannon(reference_counts: ArrayLike, current_counts: ArrayLike) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) of two histograms over the same bins.

    Equals ``scipy.spatial.distance.jensenshannon(reference, current, base=2)``.
    """
    ref, cur = _count_pair(reference_counts, current_counts)
    return float(_jensen_shannon(ref, cur))


def _psi(ref: NDArray[np.float64], cur: NDArray[np.float64], eps: float) -> NDArray[np.float64]:
    p = np.maximum(ref / ref.sum(axis=-1, keepdims=True), eps)
    q = np.maximum(cur / cur.sum(axis=-1, keepdims=True), eps)
    return np.sum((q - p) * np.log(q / p), axis=-1)


def _jensen_shannon(ref: NDArray[np.float64], cur: NDArray[np.float64]) -> NDArray[np.float64]:
    p = ref / ref.sum(axis=-1, keepdims=True)
    q = cur / cur.sum(axis=-1, keepdims=True)
    m = (p + q) / 2.0
    divergence = np.sum(special.rel_entr(p, m) + special.rel_entr(q, m), axis=-1) / math.log(2.0)
    return np.sqrt(np.maximum(divergence, 0.0) / 2.0)


def numeric_drift(
    reference: ArrayLike, current: ArrayLike, *, n_bins: int = 10, eps: float = DEFAULT_EPS
) -> NumericDrift:
    """KS test, PSI and Jensen-Shannon distance of every numeric column, from one sort.

    PSI and Jensen-Shannon use ``n_bins`` reference-quantile bins (module docstring).

    Args:
        reference: ``(n, k)`` reference rows (a 1-D array is one column), no NaN.
        current: ``(m, k)`` current rows, same columns, no NaN.
        n_bins: bins per column for PSI and Jensen-Shannon.
        eps: proportion that stands in for an empty bin in PSI.

    Example:
        >>> drift = numeric_drift(train_matrix, live_matrix)
        >>> drift.psi.round(3), drift.ks_pvalue < 0.01
    """
    _check_bins(n_bins)
    eps = _check_eps(eps)
    ref, cur = _numeric_pair(reference, current)
    ref_sorted, cur_sorted = _sort_columns(ref), _sort_columns(cur)
    d = _ks_statistics(ref_sorted, cur_sorted)
    edges = np.quantile(ref_sorted, np.arange(1, n_bins) / n_bins, axis=1).T
    ref_counts = _sorted_bin_counts(ref_sorted, edges)
    cur_counts = _sorted_bin_counts(cur_sorted, edges)
    return NumericDrift(
        ks_statistic=d,
        ks_pvalue=_ks_pvalues(d, ref.shape[0], cur.shape[0]),
        psi=_psi(ref_counts, cur_counts, eps),
        jensen_shannon=_jensen_shannon(ref_counts, cur_counts),
        n_bins=n_bins,
    )


def _sorted_bin_counts(
    sorted_rows: NDArray[np.float64], edges: NDArray[np.float64]
) -> NDArray[np.float64]:
    # Counts of x < e for each edge, read off the sorted rows: no pass over the data.
    below = np.stack(
        [np.searchsorted(row, e, side="left") for row, e in zip(sorted_rows, edges, strict=True)]
    )
    n = sorted_rows.shape[1]
    bounds = np.concatenate([np.zeros((len(below), 1)), below, np.full((len(below), 1), n)], axis=1)
    return np.diff(bounds, axis=1)


def profile_drift(
    edges: ArrayLike, reference_counts: ArrayLike, current: ArrayLike, *, eps: float = DEFAULT_EPS
) -> ProfileDrift:
    """PSI and Jensen-Shannon distance of current values against a stored reference histogram.

    Needs no raw reference values: ``edges`` and ``reference_counts`` are what the
    dataset profile keeps (``shipyard.data.profile`` layout, module docstring).

    Args:
        edges: ``k + 1`` non-decreasing edges ``e0 .. ek`` (empty: one bin for all values).
        reference_counts: ``k + 2`` counts ``[underflow, bin 1 .. bin k, overflow]``.
        current: current values of the feature, no NaN.
        eps: proportion that stands in for an empty bin in PSI.
    """
    e = _edges("edges", edges, allow_empty=True)
    ref = _counts("reference_counts", reference_counts)
    expected = e.size + 1 if e.size else 1
    if ref.size != expected:
        raise DriftInputError(
            "reference_counts",
            f"has {ref.size} entries but {e.size} edges need {expected}",
            hint="pass the profile's counts as stored: [underflow, bins..., overflow]",
        )
    x = _numeric("current", current, ndim=1, allow_inf=True)
    if e.size == 0:
        counts = np.array([x.size], dtype=np.int64)
    else:
        index = np.searchsorted(e, x, side="right")
        index[x == e[-1]] = e.size - 1  # the last bin is closed on the right
        counts = np.bincount(index, minlength=e.size + 1)
    cur = counts.astype(np.float64)
    return ProfileDrift(
        psi=float(_psi(ref, cur, _check_eps(eps))),
        jensen_shannon=float(_jensen_shannon(ref, cur)),
        current_counts=counts,
    )


# --- categorical ----------------------------------------------------------------------


def category_counts(reference: ArrayLike, current: ArrayLike) -> CategoryCounts:
    """Count each category of two samples, aligned over the categories seen in either.

    Raises:
        DriftInputError: a sample is empty or holds missing values (None, NaN) or
            categories that cannot be sorted together (mixed types).
    """
    ref = _categories("reference", reference)
    cur = _categories("current", current)
    try:
        categories, codes = np.unique(np.concatenate([ref, cur]), return_inverse=True)
    except TypeError:
        raise DriftInputError(
            "reference/current",
            "mix category types that cannot be compared",
            hint="cast categories to one type first, e.g. values.astype(str)",
        ) from None
    codes = codes.reshape(-1)
    k = categories.size
    return CategoryCounts(
        categories=categories,
        reference=np.bincount(codes[: ref.size], minlength=k),
        current=np.bincount(codes[ref.size :], minlength=k),
    )


def categorical_drift(
    reference_counts: ArrayLike, current_counts: ArrayLike, *, eps: float = DEFAULT_EPS
) -> CategoricalDrift:
    """Chi-square test of homogeneity, PSI and Jensen-Shannon distance over category counts.

    The chi-square test is ``scipy.stats.chi2_contingency`` of the 2 x k table without
    Yates' correction (monitoring counts are large; the correction only ever applies
    to 2 x 2 tables). It assumes independent rows and expected counts of about 5 or
    more per cell; categories absent from both samples are left out of the table.

    Args:
        reference_counts: count per category in the reference (a profile's counts work).
        current_counts: count per category in current data, aligned with the reference.
    """
    ref, cur = _count_pair(reference_counts, current_counts)
    present = (ref + cur) > 0
    table = np.stack([ref[present], cur[present]])
    dof = int(table.shape[1] - 1)
    if dof == 0:
        chi2, pvalue = 0.0, 1.0
    else:
        expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
        chi2 = float(np.sum((table - expected) ** 2 / expected))
        pvalue = float(stats.chi2.sf(chi2, dof))
    return CategoricalDrift(
        chi2=chi2,
        pvalue=pvalue,
        dof=dof,
        psi=float(_psi(ref, cur, _check_eps(eps))),
        jensen_shannon=float(_jensen_shannon(ref, cur)),
    )


# --- multivariate ---------------------------------------------------------------------


def domain_classifier_drift(
    reference: ArrayLike,
    current: ArrayLike,
    *,
    classifier: Any = None,
    cv: int = 5,
    max_rows: int = 5000,
    min_auc: float = 0.55,
    alpha: float = 0.01,
    seed: int = 0,
) -> DomainClassifierDrift:
    """Multivariate drift: can a classifier tell current rows from reference rows?

    Fits ``classifier`` (default: a small HistGradientBoostingClassifier, which sees
    interactions and handles NaN) to label reference 0 / current 1, and reports the
    mean ROC AUC over ``cv`` stratified folds. AUC near 0.5 means no drift.

    Threshold, without a permutation test: with no drift each fold's AUC is a
    Mann-Whitney statistic with mean 0.5, so the fold mean has standard error about
    ``sqrt((n_ref + n_cur + 1) / (12 n_ref n_cur))``. Drift is declared when the AUC
    exceeds ``max(min_auc, 0.5 + z_(1 - alpha) * se)``; ``min_auc`` keeps huge samples
    from flagging a negligible shift. The p-value is the one-sided normal tail of
    that approximation. Assumes independent rows; each side is subsampled to
    ``max_rows`` rows to bound cost, and the classifier runs on one thread.
    """
    ref = _numeric("reference", reference, ndim=2, allow_nan=True)
    cur = _numeric("current", current, ndim=2, allow_nan=True)
    if ref.shape[1] != cur.shape[1]:
        raise _column_mismatch(ref, cur)
    if cv < 2 or min(ref.shape[0], cur.shape[0]) < cv:
        raise DriftInputError(
            "reference/current",
            f"have {ref.shape[0]} and {cur.shape[0]} rows, too few for cv={cv} folds",
            hint="pass at least cv rows on each side, and cv >= 2",
        )
    # Imported here: scikit-learn costs ~1.5 s to import and the rest of this module
    # runs inside the server's monitoring path.
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    ref = _subsample(ref, max_rows, rng)
    cur = _subsample(cur, max_rows, rng)
    x = np.concatenate([ref, cur])
    y = np.concatenate([np.zeros(len(ref), dtype=int), np.ones(len(cur), dtype=int)])
    model = classifier or HistGradientBoostingClassifier(
        max_iter=50, max_leaf_nodes=15, random_state=seed
    )
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
    # One OpenMP thread: at these sizes it is as fast on an idle machine, and spinning
    # threads made it 7x slower on a busy one (1.5 s vs 0.22 s, 2 cores, load 6).
    with threadpool_limits(limits=1, user_api="openmp"):
        auc = float(np.mean(cross_val_score(model, x, y, cv=folds, scoring="roc_auc")))
    n1, n2 = len(ref), len(cur)
    se = math.sqrt((n1 + n2 + 1) / (12.0 * n1 * n2))
    threshold = max(min_auc, 0.5 + float(stats.norm.isf(alpha)) * se)
    return DomainClassifierDrift(
        auc=auc,
        threshold=threshold,
        pvalue=float(stats.norm.sf((auc - 0.5) / se)),
        drifted=auc > threshold,
        n_reference=n1,
        n_current=n2,
    )


def _subsample(
    x: NDArray[np.float64], max_rows: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    if len(x) <= max_rows:
        return x
    return x[np.sort(rng.choice(len(x), size=max_rows, replace=False))]


# --- multiple testing -----------------------------------------------------------------


def adjust_pvalues(
    pvalues: ArrayLike, *, method: Literal["bonferroni", "holm", "bh"] = "holm"
) -> NDArray[np.float64]:
    """Adjust p-values of several features tested at once; compare the result with alpha.

    ``bonferroni`` and ``holm`` control the family-wise error rate (Holm is never less
    powerful); ``bh`` (Benjamini-Hochberg) controls the false discovery rate and
    assumes independent or positively dependent tests.
    """
    p = _numeric("pvalues", pvalues, ndim=1)
    if np.any((p < 0) | (p > 1)):
        raise DriftInputError("pvalues", "has values outside [0, 1]", hint="pass p-values")
    m = p.size
    if method == "bonferroni":
        return np.minimum(p * m, 1.0)
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if method == "holm":
        stepped = np.maximum.accumulate(ranked * (m - np.arange(m)))
    elif method == "bh":
        stepped = np.minimum.accumulate((ranked * m / np.arange(1, m + 1))[::-1])[::-1]
    else:
        raise DriftInputError("method", f"is {method!r}", hint="use 'bonferroni', 'holm' or 'bh'")
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


# --- validation -----------------------------------------------------------------------


def _numeric(
    name: str, values: ArrayLike, *, ndim: int, allow_nan: bool = False, allow_inf: bool = False
) -> NDArray[np.float64]:
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DriftInputError(
            name, "is not numeric", hint="pass numbers; use category_counts for categories"
        ) from None
    if ndim == 2 and x.ndim == 1:
        x = x[:, None]
    if x.ndim != ndim:
        raise DriftInputError(name, f"has {x.ndim} dimensions", hint=f"pass a {ndim}-D array")
    if x.size == 0:
        raise DriftInputError(name, "is empty", hint="pass at least one value")
    if np.isfinite(x).all():
        return x
    if not allow_nan and np.isnan(x).any():
        raise DriftInputError(
            name,
            f"holds {int(np.isnan(x).sum())} NaN values",
            hint="drop or impute missing values first; their rate is a separate check",
        )
    if not allow_inf and np.isinf(x).any():
        raise DriftInputError(
            name,
            f"holds {int(np.isinf(x).sum())} infinite values",
            hint="drop them or clip them to a finite range first",
        )
    return x


def _numeric_pair(
    reference: ArrayLike, current: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    ref = _numeric("reference", reference, ndim=2)
    cur = _numeric("current", current, ndim=2)
    if ref.shape[1] != cur.shape[1]:
        raise _column_mismatch(ref, cur)
    return ref, cur


def _column_mismatch(ref: NDArray[Any], cur: NDArray[Any]) -> DriftInputError:
    return DriftInputError(
        "current",
        f"has {cur.shape[1]} columns but reference has {ref.shape[1]}",
        hint="pass the same features, in the same order, on both sides",
    )


def _counts(name: str, counts: ArrayLike) -> NDArray[np.float64]:
    c = _numeric(name, counts, ndim=1)
    if np.any(c < 0):
        raise DriftInputError(name, "has negative counts", hint="pass counts or proportions")
    if c.sum() <= 0:
        raise DriftInputError(name, "sums to 0", hint="pass a histogram with at least one value")
    return c


def _count_pair(
    reference: ArrayLike, current: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    ref = _counts("reference_counts", reference)
    cur = _counts("current_counts", current)
    if ref.size != cur.size:
        raise DriftInputError(
            "current_counts",
            f"has {cur.size} bins but reference_counts has {ref.size}",
            hint="count both samples over the same bins or categories",
        )
    return ref, cur


def _edges(name: str, edges: ArrayLike, *, allow_empty: bool) -> NDArray[np.float64]:
    e = np.asarray(edges, dtype=np.float64).reshape(-1)
    if e.size == 0 and allow_empty:
        return e
    e = _numeric(name, e, ndim=1, allow_inf=True)
    if np.any(np.diff(e) < 0):
        raise DriftInputError(
            name, "are not sorted ascending", hint="pass non-decreasing bin edges"
        )
    return e


def _categories(name: str, values: ArrayLike) -> NDArray[Any]:
    x = np.asarray(values)
    if x.ndim != 1 or x.size == 0:
        raise DriftInputError(name, f"has shape {x.shape}", hint="pass a non-empty 1-D array")
    if x.dtype.kind == "f":
        missing = int(np.isnan(x).sum())
    elif x.dtype.kind == "O":
        missing = sum(1 for v in x if v is None or v != v)
    else:
        missing = 0
    if missing:
        raise DriftInputError(
            name,
            f"holds {missing} missing values",
            hint="fill them with a category such as '(missing)' or drop them first",
        )
    return x


def _check_bins(n_bins: int) -> None:
    if not isinstance(n_bins, int) or n_bins < 2:
        raise DriftInputError("n_bins", f"is {n_bins!r}", hint="use an integer >= 2")


def _check_eps(eps: float) -> float:
    if not 0 < eps < 1:
        raise DriftInputError(
            "eps", f"is {eps!r}", hint="use a small positive proportion such as 1e-4"
        )
    return float(eps)
