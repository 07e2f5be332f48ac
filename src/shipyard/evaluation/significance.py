"""Paired significance: is the candidate really better than the champion on the same rows?

Both models are scored on the *same* frozen evaluation rows, so each row yields a
pair of losses and the tests below work on the per-row differences, which removes
the row-to-row variation both models share. Every test assumes the rows are
independent draws from the population the models will serve; each docstring adds
its own assumptions. Per-example losses are "lower is better", so
``alternative="less"`` means "the candidate's loss is lower".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from shipyard.evaluation.metrics import (
    ConfidenceInterval,
    MetricInputError,
    absolute_error,
    accuracy,
    bootstrap_distribution,
    brier_per_row,
    brier_score,
    f1,
    log_loss,
    log_loss_per_row,
    mae,
    percentile_interval,
    r2,
    resampled_metric,
    rmse,
    roc_auc,
    squared_error,
    zero_one_loss,
)

Alternative = Literal["two-sided", "less", "greater"]
Better = Literal["candidate", "champion", "neither"]
TestName = Literal["auto", "mcnemar", "t", "wilcoxon", "bootstrap"]


@dataclass(frozen=True)
class PairedTestResult:
    """Outcome of a paired test on per-row losses (candidate minus champion)."""

    test: str
    statistic: float
    pvalue: float
    n: int
    alternative: str


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test; only rows where exactly one model errs carry information.

    ``statistic`` is ``candidate_only_errors`` for the exact test, the chi-square value
    for the two-sided approximation and the z value for a one-sided approximation.
    """

    test: str
    statistic: float
    pvalue: float
    n: int
    alternative: str
    candidate_only_errors: int
    champion_only_errors: int


@dataclass(frozen=True)
class PairedComparison:
    """Candidate against champion on one metric: the gap, its interval and its p-value.

    ``delta`` is candidate minus champion on the metric's own scale; ``ci_low`` and
    ``ci_high`` bound it (paired percentile bootstrap, two-sided). ``better`` names the
    winner when ``pvalue < alpha``, else ``"neither"``.
    """

    metric: str
    candidate: float
    champion: float
    delta: float
    ci_low: float
    ci_high: float
    confidence: float
    pvalue: float
    test: str
    alternative: str
    alpha: float
    n: int
    better: Better


@dataclass(frozen=True)
class _Metric:
    fn: Callable[..., float]
    loss: Callable[..., NDArray[np.float64]] | None  # per row; lower is better
    higher_is_better: bool


METRICS: dict[str, _Metric] = {
    "accuracy": _Metric(accuracy, zero_one_loss, True),
    "mae": _Metric(mae, absolute_error, False),
    "rmse": _Metric(rmse, squared_error, False),
    # Same rows, same target: R2 differs only through the sum of squared errors.
    "r2": _Metric(r2, squared_error, True),
    "log_loss": _Metric(log_loss, log_loss_per_row, False),
    "brier": _Metric(brier_score, brier_per_row, False),
    "roc_auc": _Metric(roc_auc, None, True),
    "f1": _Metric(f1, None, True),
}

# McNemar's exact binomial test below this many discordant rows, chi-square above.
EXACT_BELOW = 25


def mcnemar(
    candidate_errors: ArrayLike,
    champion_errors: ArrayLike,
    *,
    alternative: Alternative = "two-sided",
    exact_below: int = EXACT_BELOW,
) -> McNemarResult:
    """McNemar's test on per-row errors (0/1 loss) of two classifiers.

    Of the ``b + c`` rows where exactly one model errs (``b`` only the candidate,
    ``c`` only the champion), equal skill makes ``b`` binomial(b + c, 1/2). Below
    ``exact_below`` discordant rows the p-value is that exact binomial tail
    (``scipy.stats.binomtest``); from there on it is the chi-square approximation
    with continuity correction, ``max(|b - c| - 1, 0)^2 / (b + c)`` on 1 degree of
    freedom (one-sided: the matching corrected normal tail). Assumes independent rows.
    ``alternative="less"`` means the candidate errs less.
    """
    cand = _errors("candidate_errors", candidate_errors)
    champ = _errors("champion_errors", champion_errors)
    _same_rows(cand, champ, "candidate_errors", "champion_errors")
    _check_alternative(alternative)
    b = int(np.count_nonzero(cand & ~champ))
    c = int(np.count_nonzero(~cand & champ))
    n = b + c
    if n == 0:
        test, statistic, pvalue = "mcnemar-exact", 0.0, 1.0
    elif n < exact_below:
        test, statistic = "mcnemar-exact", float(b)
        if alternative == "less":
            pvalue = stats.binom.cdf(b, n, 0.5)
        elif alternative == "greater":
            pvalue = stats.binom.sf(b - 1, n, 0.5)
        else:
            pvalue = min(1.0, 2.0 * stats.binom.cdf(min(b, c), n, 0.5))
    elif alternative == "two-sided":
        test = "mcnemar-chi2"
        statistic = max(abs(b - c) - 1.0, 0.0) ** 2 / n
        pvalue = stats.chi2.sf(statistic, 1)
    else:
        test = "mcnemar-chi2"
        shift = 1.0 if alternative == "less" else -1.0
        statistic = (b - c + shift) / math.sqrt(n)
        pvalue = stats.norm.cdf(statistic) if alternative == "less" else stats.norm.sf(statistic)
    return McNemarResult(
        test=test,
        statistic=float(statistic),
        pvalue=float(pvalue),
        n=int(cand.size),
        alternative=alternative,
        candidate_only_errors=b,
        champion_only_errors=c,
    )


def paired_t_test(
    candidate_loss: ArrayLike, champion_loss: ArrayLike, *, alternative: Alternative = "two-sided"
) -> PairedTestResult:
    """Paired t-test on per-row losses; equals ``scipy.stats.ttest_rel(candidate, champion)``.

    Tests whether the mean loss difference is 0. Assumes independent rows and a mean
    difference that is close to normal: true for a few dozen rows or more unless
    the losses have very heavy tails (then prefer the Wilcoxon test or the bootstrap).
    When every difference is equal the statistic is 0 (all zero) or +-inf.
    """
    diff = _loss_difference(candidate_loss, champion_loss, min_rows=2)
    _check_alternative(alternative)
    n = diff.size
    mean = float(np.mean(diff))
    var = float(np.var(diff, ddof=1))
    if var == 0.0:
        statistic = 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
    else:
        statistic = mean / math.sqrt(var / n)
    return PairedTestResult(
        test="paired-t",
        statistic=statistic,
        pvalue=_tail(stats.t(n - 1), statistic, alternative),
        n=n,
        alternative=alternative,
    )


def wilcoxon_signed_rank(
    candidate_loss: ArrayLike, champion_loss: ArrayLike, *, alternative: Alternative = "two-sided"
) -> PairedTestResult:
    """Wilcoxon signed-rank test on per-row losses, normal approximation.

    Equals ``scipy.stats.wilcoxon(candidate, champion, method="asymptotic")``: zero
    differences are dropped, ties get average ranks and the variance their
    correction, no continuity correction. Tests whether the differences are
    symmetric about 0; assumes independent rows, differences symmetric about their
    median, and enough non-zero differences for the approximation (50 or more).
    The statistic is ``min(R+, R-)`` two-sided and ``R+`` one-sided, as in scipy.
    """
    diff = _loss_difference(candidate_loss, champion_loss, min_rows=1)
    _check_alternative(alternative)
    nonzero = diff[diff != 0]
    m = nonzero.size
    if m == 0:
        return PairedTestResult("wilcoxon", 0.0, 1.0, diff.size, alternative)
    ranks = stats.rankdata(np.abs(nonzero))
    r_plus = float(ranks[nonzero > 0].sum())
    r_minus = float(ranks[nonzero < 0].sum())
    _, tie_sizes = np.unique(np.abs(nonzero), return_counts=True)
    tie_term = float(np.sum(tie_sizes.astype(np.float64) ** 3 - tie_sizes))
    se = math.sqrt((m * (m + 1.0) * (2.0 * m + 1.0) - tie_term / 2.0) / 24.0)
    z = (r_plus - m * (m + 1.0) / 4.0) / se
    return PairedTestResult(
        test="wilcoxon",
        statistic=min(r_plus, r_minus) if alternative == "two-sided" else r_plus,
        pvalue=_tail(stats.norm(), z, alternative),
        n=diff.size,
        alternative=alternative,
    )


def paired_bootstrap_delta(
    metric_fn: Callable[[Any, Any], float],
    y_true: ArrayLike,
    candidate: ArrayLike,
    champion: ArrayLike,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> ConfidenceInterval:
    """Percentile-bootstrap interval of ``metric(candidate) - metric(champion)``.

    Both models are scored on the same resampled rows, so the interval reflects the
    paired design. Assumes independent rows; see ``metrics.bootstrap_ci``.
    """
    estimate, dist = _delta_distribution(metric_fn, y_true, candidate, champion, n_resamples, seed)
    low, high = percentile_interval(dist, _check_confidence(confidence))
    return ConfidenceInterval(estimate, low, high, confidence, n_resamples)


def compare_paired(
    y_true: ArrayLike,
    candidate: ArrayLike,
    champion: ArrayLike,
    *,
    metric: str = "accuracy",
    test: TestName = "auto",
    alternative: Literal["two-sided", "candidate-better"] = "two-sided",
    alpha: float = 0.05,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedComparison:
    """Compare candidate and champion predictions on the same rows, on one metric.

    Tests (``auto`` picks the first that applies): ``mcnemar`` for accuracy;
    ``t`` (paired t-test) on the per-row loss of mae, rmse, r2, log_loss and brier;
    ``bootstrap`` for metrics without a per-row loss (roc_auc, f1). ``wilcoxon`` may be
    asked for where a per-row loss exists. The bootstrap p-value is the share of
    resampled deltas on the wrong side of 0, ``(1 + count) / (1 + n_resamples)``
    (doubled for two-sided), the test dual to the percentile interval.

    Args:
        y_true: true targets or labels.
        candidate: the candidate's predictions (labels, values or probabilities, as
            the metric expects).
        champion: the champion's predictions, same rows.
        metric: one of ``METRICS``.
        test: which test gives the p-value.
        alternative: ``"candidate-better"`` asks only whether the candidate is better
            (one-sided; on losses that is ``alternative="less"``).
        alpha: significance level that decides ``better``.

    Example:
        >>> result = compare_paired(y, new.predict(x), old.predict(x), metric="accuracy")
        >>> result.better, result.delta, result.pvalue
    """
    spec = _metric_spec(metric)
    if alternative not in ("two-sided", "candidate-better"):
        raise MetricInputError(
            "alternative", f"is {alternative!r}", hint="use 'two-sided' or 'candidate-better'"
        )
    if not 0 < alpha < 1:
        raise MetricInputError("alpha", f"is {alpha!r}", hint="use a level in (0, 1), e.g. 0.05")
    chosen = _choose_test(metric, spec, test)
    estimate, dist = _delta_distribution(spec.fn, y_true, candidate, champion, n_resamples, seed)
    low, high = percentile_interval(dist, _check_confidence(confidence))
    sign = 1.0 if spec.higher_is_better else -1.0
    if chosen == "bootstrap":
        pvalue = _bootstrap_pvalue(sign * dist, alternative)
    else:
        assert spec.loss is not None  # _choose_test guarantees it
        on_loss: Alternative = "less" if alternative == "candidate-better" else "two-sided"
        cand_loss, champ_loss = spec.loss(y_true, candidate), spec.loss(y_true, champion)
        if chosen == "mcnemar":
            pvalue = mcnemar(cand_loss, champ_loss, alternative=on_loss).pvalue
        elif chosen == "t":
            pvalue = paired_t_test(cand_loss, champ_loss, alternative=on_loss).pvalue
        else:
            pvalue = wilcoxon_signed_rank(cand_loss, champ_loss, alternative=on_loss).pvalue
    better: Better = "neither"
    if pvalue < alpha and sign * estimate != 0:
        better = "candidate" if sign * estimate > 0 else "champion"
        if alternative == "candidate-better" and better == "champion":
            better = "neither"
    return PairedComparison(
        metric=metric,
        candidate=float(spec.fn(y_true, candidate)),
        champion=float(spec.fn(y_true, champion)),
        delta=estimate,
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        pvalue=pvalue,
        test=chosen,
        alternative=alternative,
        alpha=alpha,
        n=len(np.asarray(y_true)),
        better=better,
    )


def _delta_distribution(
    metric_fn: Callable[..., float],
    y_true: ArrayLike,
    candidate: ArrayLike,
    champion: ArrayLike,
    n_resamples: int,
    seed: int,
) -> tuple[float, NDArray[np.float64]]:
    t, cand, champ = np.asarray(y_true), np.asarray(candidate), np.asarray(champion)
    _same_rows(t, cand, "y_true", "candidate")
    _same_rows(t, champ, "y_true", "champion")
    estimate = float(metric_fn(t, cand) - metric_fn(t, champ))
    both = resampled_metric(metric_fn, t, [cand, champ], n_resamples=n_resamples, seed=seed)
    if both is not None:
        return estimate, both[:, 0] - both[:, 1]

    def delta(rt: Any, rc: Any, rh: Any) -> float:
        return metric_fn(rt, rc) - metric_fn(rt, rh)

    return estimate, bootstrap_distribution(
        delta, t, cand, champ, n_resamples=n_resamples, seed=seed
    )


def _bootstrap_pvalue(improvement: NDArray[np.float64], alternative: str) -> float:
    b = improvement.size
    not_better = (1.0 + np.count_nonzero(improvement <= 0)) / (b + 1.0)
    if alternative == "candidate-better":
        return float(not_better)
    not_worse = (1.0 + np.count_nonzero(improvement >= 0)) / (b + 1.0)
    return float(min(1.0, 2.0 * min(not_better, not_worse)))


def _choose_test(metric: str, spec: _Metric, test: str) -> str:
    if test == "auto":
        if metric == "accuracy":
            return "mcnemar"
        return "t" if spec.loss is not None else "bootstrap"
    if test not in ("mcnemar", "t", "wilcoxon", "bootstrap"):
        raise MetricInputError(
            "test", f"is {test!r}", hint="use 'auto', 'mcnemar', 't', 'wilcoxon' or 'bootstrap'"
        )
    if test == "mcnemar" and metric != "accuracy":
        raise MetricInputError(
            "test", f"'mcnemar' does not apply to {metric}", hint="use it with metric='accuracy'"
        )
    if test in ("t", "wilcoxon") and spec.loss is None:
        raise MetricInputError(
            "test",
            f"{test!r} needs a per-row loss, which {metric} has not",
            hint="use test='bootstrap'",
        )
    return test


def _metric_spec(metric: str) -> _Metric:
    if metric not in METRICS:
        raise MetricInputError("metric", f"is {metric!r}", hint=f"use one of {sorted(METRICS)}")
    return METRICS[metric]


def _tail(dist: Any, statistic: float, alternative: str) -> float:
    if alternative == "less":
        return float(dist.cdf(statistic))
    if alternative == "greater":
        return float(dist.sf(statistic))
    return float(min(1.0, 2.0 * dist.sf(abs(statistic))))


def _loss_difference(
    candidate: ArrayLike, champion: ArrayLike, *, min_rows: int
) -> NDArray[np.float64]:
    cand = _losses("candidate_loss", candidate)
    champ = _losses("champion_loss", champion)
    _same_rows(cand, champ, "candidate_loss", "champion_loss")
    if cand.size < min_rows:
        raise MetricInputError(
            "candidate_loss", f"has {cand.size} rows", hint=f"pass at least {min_rows}"
        )
    return cand - champ


def _losses(name: str, values: ArrayLike) -> NDArray[np.float64]:
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise MetricInputError(name, "is not numeric", hint="pass one loss per row") from None
    if x.ndim != 1 or x.size == 0:
        raise MetricInputError(
            name, f"has shape {x.shape}", hint="pass a non-empty 1-D array, one loss per row"
        )
    if not np.isfinite(x).all():
        raise MetricInputError(
            name, "holds NaN or infinite values", hint="drop or fix those rows first"
        )
    return x


def _errors(name: str, values: ArrayLike) -> NDArray[np.bool_]:
    x = _losses(name, values)
    if not np.isin(x, (0.0, 1.0)).all():
        raise MetricInputError(
            name, "holds values other than 0 and 1", hint="pass per-row errors (0/1 loss)"
        )
    return x.astype(bool)


def _same_rows(a: NDArray[Any], b: NDArray[Any], name_a: str, name_b: str) -> None:
    for name, x in ((name_a, a), (name_b, b)):
        if x.ndim == 0 or len(x) == 0:
            raise MetricInputError(
                name, f"has shape {x.shape}", hint="pass a non-empty array, one entry per row"
            )
    if len(a) != len(b):
        raise MetricInputError(
            name_b,
            f"has {len(b)} rows but {name_a} has {len(a)}",
            hint="score both models on the same rows",
        )


def _check_alternative(alternative: str) -> None:
    if alternative not in ("two-sided", "less", "greater"):
        raise MetricInputError(
            "alternative", f"is {alternative!r}", hint="use 'two-sided', 'less' or 'greater'"
        )


def _check_confidence(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise MetricInputError(
            "confidence", f"is {confidence!r}", hint="use a level in (0, 1), e.g. 0.95"
        )
    return confidence
