"""Fast statistics for bootstrap loops: a metric's value on a resample, from its row indices.

scikit-learn's precision, recall, F1, ROC AUC, R² and MAPE validate their inputs on
every call (about 5 ms each), and 1,000 resamples of 100,000 rows made a report take
minutes. Here each metric is prepared once from the full arrays, then evaluated on a
resample given only which rows it drew: means of precomputed per-row columns are weighted by
how often each row was drawn, and ROC AUC comes from the rows' multiplicities as weighted counts of
negatives below each score. Each equals scikit-learn's value on the
resampled rows (tested), and is NaN where scikit-learn would refuse (a resample
without one of the classes, a constant target). Point values still come from
``evaluation.metrics``: these serve only as the statistic of
``metrics.bootstrap_distribution(stat, numpy.arange(n))``, which keeps its resamples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

RowStatistic = Callable[[np.ndarray], float]


def _counts(rows: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(rows, minlength=n).astype(np.float64)


def mean_columns(columns: np.ndarray, finish: Callable[[np.ndarray], float]) -> RowStatistic:
    """``finish(column means over the resampled rows)``: for metrics built from means."""
    n = len(columns)
    by_column = np.ascontiguousarray(np.asarray(columns, dtype=np.float64).T)

    def stat(rows: np.ndarray) -> float:
        # einsum, not ``@``: multithreaded BLAS stalls for milliseconds on a busy machine
        sums = np.einsum("j,ij->i", _counts(rows, n), by_column)
        return finish(sums / len(rows))

    return stat


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0  # scikit-learn's zero_division=0.0


_SCORES: dict[str, Callable[[float, float, float], float]] = {
    "precision": lambda tp, fp, fn: _ratio(tp, tp + fp),
    "recall": lambda tp, fp, fn: _ratio(tp, tp + fn),
    "f1": lambda tp, fp, fn: _ratio(2 * tp, 2 * tp + fp + fn),
}


def label_statistic(
    kind: str, y_true: np.ndarray, y_pred: np.ndarray, positive: str | None
) -> RowStatistic:
    """Precision, recall or F1 of labels: binary for ``positive``, else the macro average
    over the labels present (in truth or prediction) in each resample, as scikit-learn."""
    score = _SCORES[kind]
    labels = (
        [positive] if positive is not None else list(np.unique(np.concatenate([y_true, y_pred])))
    )
    columns = []
    for label in labels:
        t, p = y_true == label, y_pred == label
        columns += [t & p, ~t & p, t & ~p]
    matrix = np.column_stack(columns).astype(np.float64)

    def finish(means: np.ndarray) -> float:
        tp, fp, fn = means[0::3], means[1::3], means[2::3]
        if positive is not None:
            return score(tp[0], fp[0], fn[0])
        present = (tp + fp + fn) > 0
        return float(
            np.mean([score(*c) for c in zip(tp[present], fp[present], fn[present], strict=True)])
        )

    return mean_columns(matrix, finish)


def r2_statistic(y_true: np.ndarray, y_pred: np.ndarray) -> RowStatistic:
    """R² = 1 - SSE / SST, with SST from the mean and mean square of a centred target."""
    t = np.asarray(y_true, dtype=np.float64)
    centred = t - t.mean()  # a large offset would cancel badly in mean(t²) - mean(t)²
    error = (t - np.asarray(y_pred, dtype=np.float64)) ** 2
    columns = np.column_stack([error, centred, centred**2])

    def finish(means: np.ndarray) -> float:
        spread = means[2] - means[1] ** 2
        if spread <= 1e-12 * max(means[2], 1e-300):
            return float("nan")  # constant target in this resample
        return 1.0 - means[0] / spread

    return mean_columns(columns, finish)


def mape_statistic(y_true: np.ndarray, y_pred: np.ndarray) -> RowStatistic:
    """Mean absolute percentage error (scikit-learn's, which guards |y| with float eps)."""
    t = np.asarray(y_true, dtype=np.float64)
    eps = np.finfo(np.float64).eps
    share = np.abs(t - np.asarray(y_pred, dtype=np.float64)) / np.maximum(np.abs(t), eps)
    if np.any(t == 0):
        return lambda rows: float("nan")  # metrics.mape refuses a zero target
    return mean_columns(share[:, None], lambda means: float(means[0]))


def auc_statistic(hit: np.ndarray, score: np.ndarray) -> RowStatistic:
    """ROC AUC of a 0/1 truth: the chance a positive outscores a negative, ties half."""
    positive = np.asarray(hit, dtype=np.float64)
    groups, group = np.unique(np.asarray(score, dtype=np.float64), return_inverse=True)
    n, g = len(positive), len(groups)

    def stat(rows: np.ndarray) -> float:
        weight = _counts(rows, n)
        pos = np.bincount(group, weights=weight * positive, minlength=g)
        neg = np.bincount(group, weights=weight * (1.0 - positive), minlength=g)
        n_pos, n_neg = pos.sum(), neg.sum()
        if n_pos == 0 or n_neg == 0:
            return float("nan")
        below = np.cumsum(neg) - neg
        return float(np.sum(pos * (below + 0.5 * neg)) / (n_pos * n_neg))

    return stat


def ovr_auc_statistic(index: np.ndarray, proba: np.ndarray) -> RowStatistic:
    """One-vs-rest macro ROC AUC; ``index`` holds each row's column in ``proba``. NaN
    when a resample lacks a class, where scikit-learn refuses."""
    per_class = [auc_statistic(index == c, proba[:, c]) for c in range(proba.shape[1])]
    return lambda rows: float(np.mean([s(rows) for s in per_class]))


def difference(a: RowStatistic, b: RowStatistic) -> RowStatistic:
    """``a - b`` on the same resample: a paired delta."""
    return lambda rows: a(rows) - b(rows)


def positive_or_none(classes: Sequence[str]) -> str | None:
    """The positive class of a binary task (the second, as in ``classes_``), else None."""
    return classes[1] if len(classes) == 2 else None
