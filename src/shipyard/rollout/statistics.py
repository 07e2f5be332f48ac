"""A/B statistics for rollouts: variant estimates, fixed-horizon and sequential tests, SRM.

Variant ``a`` is the control (stable), ``b`` the treatment (canary); every
difference is ``b - a``. Every test assumes that units (users, sessions) are
assigned to variants independently and that each unit contributes one
observation: counting several events of one user as independent rows makes
p-values too small.

Fixed-horizon tests (z, Welch) are valid only when looked at once, at a sample
size chosen in advance. A rollout controller that checks after every batch must
use the sequential tests (mSPRT), whose p-values stay valid under continuous
peeking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from shipyard.errors import InvalidArgument, RolloutError

# scipy.stats (0.7 s) and shipyard.monitoring (which brings pandas) are imported inside
# the functions that use them: the server imports this module before it listens, and
# analysis runs seconds later, in the rollout controller's thread.

Alternative = Literal["two-sided", "less", "greater"]


class ExperimentInputError(RolloutError, InvalidArgument):
    """Counts or outcomes given to an A/B statistic cannot be used as they are."""


@dataclass(frozen=True)
class Estimate:
    """One variant's estimate with a two-sided confidence interval."""

    value: float
    low: float
    high: float
    n: int
    confidence: float
    method: str


@dataclass(frozen=True)
class ABTestResult:
    """A fixed-horizon test of treatment against control; ``difference`` is b - a."""

    test: str
    statistic: float
    pvalue: float
    difference: float
    ci_low: float
    ci_high: float
    confidence: float
    alternative: str


@dataclass(frozen=True)
class SequentialResult:
    """An mSPRT over successive looks; valid however often it is looked at.

    ``pvalues`` holds the always-valid p-value after each look (non-increasing);
    ``ci_low`` / ``ci_high`` are the always-valid ``1 - alpha`` interval for b - a
    after the last look (the running intersection of every look's interval).
    ``first_rejection`` is the index of the first look with p-value <= alpha.
    """

    pvalues: NDArray[np.float64]
    pvalue: float
    difference: float
    ci_low: float
    ci_high: float
    alpha: float
    tau2: float
    rejected: bool
    first_rejection: int | None


@dataclass(frozen=True)
class SampleRatioCheck:
    """Chi-square goodness of fit of the units each variant received to the configured split."""

    statistic: float
    pvalue: float
    observed: NDArray[np.int64]
    expected: NDArray[np.float64]
    alpha: float
    mismatch: bool


@dataclass(frozen=True)
class PredictionShift:
    """How far the canary's predictions are distributed from the stable version's."""

    psi: float
    jensen_shannon: float
    stable_counts: NDArray[np.int64]
    canary_counts: NDArray[np.int64]


# --- per-variant estimates ------------------------------------------------------------


def proportion_estimate(successes: int, trials: int, *, confidence: float = 0.95) -> Estimate:
    """Success rate with a Wilson score interval (no continuity correction).

    Equals ``scipy.stats.binomtest(successes, trials).proportion_ci(method="wilson")``.
    Unlike the Wald interval it stays inside [0, 1] and keeps its coverage near 0 or 1.
    """
    _check_counts("successes", successes, "trials", trials)
    z = _z(confidence)
    n, p = float(trials), successes / trials
    denom = 2.0 * (n + z * z)
    center = (2.0 * n * p + z * z) / denom
    half = z * math.sqrt(z * z + 4.0 * n * p * (1.0 - p)) / denom
    return Estimate(
        p, max(0.0, center - half), min(1.0, center + half), trials, confidence, "wilson"
    )


def mean_estimate(values: ArrayLike, *, confidence: float = 0.95) -> Estimate:
    """Mean with a Student-t interval; assumes the sample mean is close to normal."""
    from scipy import stats

    x = _sample("values", values, min_size=2)
    t = float(stats.t.ppf(0.5 + _check_confidence(confidence) / 2.0, x.size - 1))
    mean = float(np.mean(x))
    half = t * float(np.std(x, ddof=1)) / math.sqrt(x.size)
    return Estimate(mean, mean - half, mean + half, int(x.size), confidence, "t")


# --- fixed-horizon tests --------------------------------------------------------------


def two_proportion_z_test(
    successes_a: int,
    trials_a: int,
    successes_b: int,
    trials_b: int,
    *,
    alternative: Alternative = "two-sided",
    confidence: float = 0.95,
) -> ABTestResult:
    """Two-proportion z-test with the pooled standard error; look once only.

    ``z**2`` equals the chi-square statistic of ``chi2_contingency`` on the 2 x 2
    table without correction. The interval is the unpooled Wald interval of b - a.
    Assumes independent units and a normal approximation that holds (about 10
    successes and 10 failures per variant or more).
    """
    from scipy import stats

    _check_counts("successes_a", successes_a, "trials_a", trials_a)
    _check_counts("successes_b", successes_b, "trials_b", trials_b)
    _check_alternative(alternative)
    pa, pb = successes_a / trials_a, successes_b / trials_b
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    se0 = math.sqrt(pooled * (1.0 - pooled) * (1.0 / trials_a + 1.0 / trials_b))
    z = 0.0 if se0 == 0.0 else (pb - pa) / se0
    half = _z(confidence) * math.sqrt(pa * (1 - pa) / trials_a + pb * (1 - pb) / trials_b)
    return ABTestResult(
        test="two-proportion-z",
        statistic=z,
        pvalue=_tail(stats.norm(), z, alternative),
        difference=pb - pa,
        ci_low=pb - pa - half,
        ci_high=pb - pa + half,
        confidence=confidence,
        alternative=alternative,
    )


def welch_t_test(
    a: ArrayLike, b: ArrayLike, *, alternative: Alternative = "two-sided", confidence: float = 0.95
) -> ABTestResult:
    """Welch's t-test of mean(b) - mean(a), unequal variances; look once only.

    Equals ``scipy.stats.ttest_ind(b, a, equal_var=False)``, with its confidence
    interval. Assumes independent units and sample means close to normal.
    """
    from scipy import stats

    xa = _sample("a", a, min_size=2)
    xb = _sample("b", b, min_size=2)
    _check_alternative(alternative)
    va, vb = float(np.var(xa, ddof=1)) / xa.size, float(np.var(xb, ddof=1)) / xb.size
    diff = float(np.mean(xb) - np.mean(xa))
    se = math.sqrt(va + vb)
    if se == 0.0:
        raise ExperimentInputError(
            "a/b", "have no variance at all", hint="nothing to test: every value is equal"
        )
    df = (va + vb) ** 2 / (va**2 / (xa.size - 1) + vb**2 / (xb.size - 1))
    t = diff / se
    half = float(stats.t.ppf(0.5 + _check_confidence(confidence) / 2.0, df)) * se
    return ABTestResult(
        test="welch-t",
        statistic=t,
        pvalue=_tail(stats.t(df), t, alternative),
        difference=diff,
        ci_low=diff - half,
        ci_high=diff + half,
        confidence=confidence,
        alternative=alternative,
    )


# --- sequential tests (mSPRT) ---------------------------------------------------------


def msprt_pvalues(
    difference: ArrayLike, variance: ArrayLike, *, tau2: float, theta0: float = 0.0
) -> NDArray[np.float64]:
    """Always-valid p-values of a normal mixture SPRT (Johari et al. 2017), along the last axis.

    With estimate ``d`` of b - a after each look, its variance ``v`` and a normal
    mixing distribution ``N(theta0, tau2)`` over the true difference::

        Lambda = sqrt(v / (v + tau2)) * exp(tau2 * (d - theta0)^2 / (2 v (v + tau2)))
        p_n    = min(1, min over looks k <= n of 1 / Lambda_k)

    A look with ``v == 0`` (no data yet, or no variation) carries no evidence. Leading
    axes are independent experiments, so many can be evaluated at once.
    """
    d = np.asarray(difference, dtype=np.float64)
    v = np.asarray(variance, dtype=np.float64)
    _check_tau2(tau2)
    usable = v > 0
    safe_v = np.where(usable, v, 1.0)
    log_lambda = 0.5 * np.log(safe_v / (safe_v + tau2)) + tau2 * (d - theta0) ** 2 / (
        2.0 * safe_v * (safe_v + tau2)
    )
    p = np.minimum(1.0, np.exp(-np.where(usable, log_lambda, 0.0)))
    return np.minimum.accumulate(p, axis=-1)


def sequential_proportions(
    successes_a: ArrayLike,
    trials_a: ArrayLike,
    successes_b: ArrayLike,
    trials_b: ArrayLike,
    *,
    tau2: float,
    alpha: float = 0.05,
) -> SequentialResult:
    """mSPRT of the difference in success rates, from cumulative counts at each look.

    Uses the normal approximation with the unpooled plug-in variance
    ``pa(1-pa)/na + pb(1-pb)/nb``, which needs a few dozen successes and failures
    per variant before its guarantee holds. ``tau2`` is the variance of the mixing
    distribution: set ``sqrt(tau2)`` near the smallest difference worth detecting
    (e.g. ``tau2=1e-4`` for one percentage point).

    Args:
        successes_a / trials_a / successes_b / trials_b: cumulative counts, one entry
            per look, non-decreasing.
    """
    sa = _cumulative("successes_a", successes_a)
    na = _cumulative("trials_a", trials_a, like=sa)
    sb = _cumulative("successes_b", successes_b, like=sa)
    nb = _cumulative("trials_b", trials_b, like=sa)
    if np.any(sa > na) or np.any(sb > nb):
        raise ExperimentInputError(
            "successes", "exceed trials at some look", hint="pass successes <= trials"
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        pa, pb = np.where(na > 0, sa / na, 0.0), np.where(nb > 0, sb / nb, 0.0)
        variance = np.where((na > 0) & (nb > 0), pa * (1 - pa) / na + pb * (1 - pb) / nb, 0.0)
    return _sequential(pb - pa, variance, tau2=tau2, alpha=alpha)


def sequential_means(
    *,
    count_a: ArrayLike,
    mean_a: ArrayLike,
    var_a: ArrayLike,
    count_b: ArrayLike,
    mean_b: ArrayLike,
    var_b: ArrayLike,
    tau2: float,
    alpha: float = 0.05,
) -> SequentialResult:
    """mSPRT of the difference in means, from cumulative per-look summaries of each variant.

    ``var_*`` are sample variances (ddof=1) of all observations up to each look. Uses
    the normal approximation with plug-in variance ``var_a/na + var_b/nb``; looks with
    fewer than 2 observations in a variant carry no evidence. ``sqrt(tau2)`` should be
    near the smallest difference in means worth detecting.
    """
    na = _cumulative("count_a", count_a)
    nb = _cumulative("count_b", count_b, like=na)
    arrays = {"mean_a": mean_a, "var_a": var_a, "mean_b": mean_b, "var_b": var_b}
    ma, va, mb, vb = (_looks(name, value, like=na) for name, value in arrays.items())
    if np.any(va < 0) or np.any(vb < 0):
        raise ExperimentInputError(
            "var_a/var_b", "hold negative variances", hint="pass sample variances"
        )
    usable = (na >= 2) & (nb >= 2)
    variance = np.where(usable, va / np.maximum(na, 1) + vb / np.maximum(nb, 1), 0.0)
    return _sequential(np.where(usable, mb - ma, 0.0), variance, tau2=tau2, alpha=alpha)


def _sequential(
    difference: NDArray[np.float64], variance: NDArray[np.float64], *, tau2: float, alpha: float
) -> SequentialResult:
    if not 0 < alpha < 1:
        raise ExperimentInputError(
            "alpha", f"is {alpha!r}", hint="use a level in (0, 1), e.g. 0.05"
        )
    pvalues = msprt_pvalues(difference, variance, tau2=tau2)
    usable = variance > 0
    safe_v = np.where(usable, variance, 1.0)
    # Lambda(theta) >= 1/alpha solved for theta: |d - theta| >= radius.
    radius = np.sqrt(
        2.0
        * safe_v
        * (safe_v + tau2)
        / tau2
        * (math.log(1.0 / alpha) + 0.5 * np.log((safe_v + tau2) / safe_v))
    )
    low = np.where(usable, difference - radius, -np.inf)
    high = np.where(usable, difference + radius, np.inf)
    hits = np.flatnonzero(pvalues <= alpha)
    return SequentialResult(
        pvalues=pvalues,
        pvalue=float(pvalues[-1]),
        difference=float(difference[-1]),
        ci_low=float(np.max(low)),
        ci_high=float(np.min(high)),
        alpha=alpha,
        tau2=tau2,
        rejected=bool(hits.size),
        first_rejection=int(hits[0]) if hits.size else None,
    )


# --- sample ratio mismatch ------------------------------------------------------------


def sample_ratio_mismatch(
    counts: ArrayLike, weights: ArrayLike, *, alpha: float = 0.001
) -> SampleRatioCheck:
    """Did the variants receive the share of units the routing policy configured?

    Chi-square goodness of fit, ``scipy.stats.chisquare(counts, f_exp=expected)``. A
    mismatch means assignment or logging is broken and no A/B result can be trusted.
    The default ``alpha`` of 0.001 is the usual SRM threshold: the check runs on
    every experiment, so false alarms must be rare. Counts must be units (users),
    not events.

    Args:
        counts: units seen per variant.
        weights: configured traffic weights per variant (any positive scale).
    """
    from scipy import stats

    observed = np.asarray(counts)
    w = np.asarray(weights, dtype=np.float64)
    if observed.ndim != 1 or observed.size < 2 or w.shape != observed.shape:
        raise ExperimentInputError(
            "counts/weights",
            f"have shapes {observed.shape} and {w.shape}",
            hint="pass one count and one weight per variant, for 2 or more variants",
        )
    if observed.dtype.kind not in "iu" or np.any(observed < 0) or observed.sum() == 0:
        raise ExperimentInputError(
            "counts", f"are {observed.tolist()}", hint="pass non-negative integer unit counts"
        )
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ExperimentInputError(
            "weights", f"are {w.tolist()}", hint="pass positive weights, e.g. [90, 10]"
        )
    expected = observed.sum() * w / w.sum()
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    pvalue = float(stats.chi2.sf(statistic, observed.size - 1))
    return SampleRatioCheck(
        statistic, pvalue, observed.astype(np.int64), expected, alpha, pvalue < alpha
    )


# --- prediction shift -----------------------------------------------------------------


def prediction_shift(
    stable: ArrayLike,
    canary: ArrayLike,
    *,
    kind: Literal["auto", "numeric", "categorical"] = "auto",
    n_bins: int = 10,
) -> PredictionShift:
    """PSI and Jensen-Shannon distance between the canary's and the stable version's predictions.

    Numeric predictions (``auto``: float dtype) are binned at the stable version's
    quantiles; labels (anything else) are counted per class. See
    ``shipyard.monitoring.drift_stats`` for the binning and epsilon conventions.
    """
    from shipyard.monitoring.drift_stats import (
        bin_counts,
        category_counts,
        jensen_shannon,
        psi,
        quantile_edges,
    )

    s, c = np.asarray(stable), np.asarray(canary)
    for name, x in (("stable", s), ("canary", c)):
        if x.ndim != 1 or x.size == 0:
            raise ExperimentInputError(
                name, f"has shape {x.shape}", hint="pass a non-empty 1-D array of predictions"
            )
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            raise ExperimentInputError(
                name, "holds NaN or infinite predictions", hint="drop them first"
            )
    numeric = kind == "numeric" or (kind == "auto" and s.dtype.kind == "f")
    if numeric:
        edges = quantile_edges(s, n_bins=n_bins)
        stable_counts, canary_counts = bin_counts(s, edges), bin_counts(c, edges)
    else:
        counts = category_counts(s, c)
        stable_counts, canary_counts = counts.reference, counts.current
    return PredictionShift(
        psi=psi(stable_counts, canary_counts),
        jensen_shannon=jensen_shannon(stable_counts, canary_counts),
        stable_counts=stable_counts,
        canary_counts=canary_counts,
    )


# --- validation -----------------------------------------------------------------------


def _tail(dist: Any, statistic: float, alternative: str) -> float:
    if alternative == "less":
        return float(dist.cdf(statistic))
    if alternative == "greater":
        return float(dist.sf(statistic))
    return float(min(1.0, 2.0 * dist.sf(abs(statistic))))


def _z(confidence: float) -> float:
    from scipy import stats

    return float(stats.norm.ppf(0.5 + _check_confidence(confidence) / 2.0))


def _check_confidence(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ExperimentInputError(
            "confidence", f"is {confidence!r}", hint="use a level in (0, 1), e.g. 0.95"
        )
    return confidence


def _check_alternative(alternative: str) -> None:
    if alternative not in ("two-sided", "less", "greater"):
        raise ExperimentInputError(
            "alternative", f"is {alternative!r}", hint="use 'two-sided', 'less' or 'greater'"
        )


def _check_tau2(tau2: float) -> None:
    if not (isinstance(tau2, int | float) and math.isfinite(tau2) and tau2 > 0):
        raise ExperimentInputError(
            "tau2",
            f"is {tau2!r}",
            hint="use a positive variance near (smallest effect worth detecting)^2",
        )


def _check_counts(success_name: str, successes: int, trials_name: str, trials: int) -> None:
    for name, value in ((success_name, successes), (trials_name, trials)):
        if not isinstance(value, int | np.integer) or value < 0:
            raise ExperimentInputError(
                name, f"is {value!r}", hint="pass a non-negative integer count"
            )
    if trials == 0:
        raise ExperimentInputError(
            trials_name, "is 0", hint="wait for at least one trial in each variant"
        )
    if successes > trials:
        raise ExperimentInputError(
            success_name,
            f"is {successes} > {trials_name} {trials}",
            hint="pass successes <= trials",
        )


def _sample(name: str, values: ArrayLike, *, min_size: int) -> NDArray[np.float64]:
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ExperimentInputError(
            name, "is not numeric", hint="pass one numeric outcome per unit"
        ) from None
    if x.ndim != 1 or x.size < min_size:
        raise ExperimentInputError(
            name, f"has shape {x.shape}", hint=f"pass a 1-D array of at least {min_size} outcomes"
        )
    if not np.isfinite(x).all():
        raise ExperimentInputError(
            name, "holds NaN or infinite outcomes", hint="drop or fix those units first"
        )
    return x


def _looks(
    name: str, values: ArrayLike, *, like: NDArray[Any] | None = None
) -> NDArray[np.float64]:
    x = _sample(name, values, min_size=1)
    if like is not None and x.shape != like.shape:
        raise ExperimentInputError(
            name, f"has {x.size} looks, not {like.size}", hint="pass one entry per look"
        )
    return x


def _cumulative(
    name: str, values: ArrayLike, *, like: NDArray[Any] | None = None
) -> NDArray[np.float64]:
    x = _looks(name, values, like=like)
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise ExperimentInputError(
            name, "holds negative or fractional counts", hint="pass whole counts"
        )
    if np.any(np.diff(x) < 0):
        raise ExperimentInputError(
            name,
            "decreases between looks",
            hint="pass cumulative counts (totals so far), not per-batch counts",
        )
    return x
