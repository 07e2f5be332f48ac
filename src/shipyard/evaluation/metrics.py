"""Model quality metrics, per-example losses and bootstrap confidence intervals.

Pure functions on numpy arrays. Scalar metrics are scikit-learn's, behind one input
check that names the bad argument; curves and intervals come back as frozen
dataclasses. Every interval here assumes the evaluation rows are independent draws
from the population the model will serve.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn import metrics as skm

from shipyard.errors import EvaluationError, InvalidArgument

# Values a bootstrap batch holds at once: 4M int64 indices = 32 MB, as many gathered values.
_BATCH_CELLS = 4_000_000

Average = Literal["binary", "micro", "macro", "weighted"]


class MetricInputError(EvaluationError, InvalidArgument):
    """Arrays given to a metric or a comparison cannot be used as they are."""


@dataclass(frozen=True)
class ConfidenceInterval:
    """A point estimate with a percentile-bootstrap interval around it."""

    estimate: float
    low: float
    high: float
    confidence: float
    n_resamples: int


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts of true label (row) against predicted label (column)."""

    labels: NDArray[Any]
    counts: NDArray[np.int64]


@dataclass(frozen=True)
class CalibrationCurve:
    """Reliability bins of a binary classifier: mean predicted vs observed positive rate.

    Empty bins hold NaN in ``mean_predicted`` and ``fraction_positive``. ``ece`` is the
    expected calibration error, ``sum(counts / n * |fraction_positive - mean_predicted|)``.
    """

    edges: NDArray[np.float64]
    counts: NDArray[np.int64]
    mean_predicted: NDArray[np.float64]
    fraction_positive: NDArray[np.float64]
    ece: float


@dataclass(frozen=True)
class ROCCurve:
    """ROC curve of a binary scorer, as ``sklearn.metrics.roc_curve``, with its area."""

    fpr: NDArray[np.float64]
    tpr: NDArray[np.float64]
    thresholds: NDArray[np.float64]
    auc: float


@dataclass(frozen=True)
class PRCurve:
    """Precision-recall curve of a binary scorer, with its average precision."""

    precision: NDArray[np.float64]
    recall: NDArray[np.float64]
    thresholds: NDArray[np.float64]
    average_precision: float


# --- regression -----------------------------------------------------------------------


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error."""
    t, p = _numeric_pair(y_true, y_pred)
    return float(skm.mean_absolute_error(t, p))


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error."""
    t, p = _numeric_pair(y_true, y_pred)
    return float(skm.root_mean_squared_error(t, p))


def r2(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Coefficient of determination; needs at least two rows and a non-constant target."""
    t, p = _numeric_pair(y_true, y_pred)
    if t.size < 2 or np.all(t == t[0]):
        raise MetricInputError(
            "y_true",
            "is constant or has fewer than 2 rows, so R2 is undefined",
            hint="use mae or rmse",
        )
    return float(skm.r2_score(t, p))


def mape(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute percentage error, as a fraction (0.1 = 10%); y_true must not hold 0."""
    t, p = _numeric_pair(y_true, y_pred)
    zeros = int(np.count_nonzero(t == 0))
    if zeros:
        raise MetricInputError(
            "y_true",
            f"holds {zeros} zeros, where MAPE divides by 0",
            hint="use mae, or drop those rows",
        )
    return float(skm.mean_absolute_percentage_error(t, p))


# --- classification -------------------------------------------------------------------


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Share of rows whose predicted label equals the true label."""
    t, p = _label_pair(y_true, y_pred)
    return float(skm.accuracy_score(t, p))


def precision(
    y_true: ArrayLike, y_pred: ArrayLike, *, average: Average = "binary", pos_label: Any = 1
) -> float:
    """Precision; 0.0 when nothing is predicted positive."""
    t, p = _label_pair(y_true, y_pred)
    return float(skm.precision_score(t, p, average=average, pos_label=pos_label, zero_division=0.0))


def recall(
    y_true: ArrayLike, y_pred: ArrayLike, *, average: Average = "binary", pos_label: Any = 1
) -> float:
    """Recall; 0.0 when no row is truly positive."""
    t, p = _label_pair(y_true, y_pred)
    return float(skm.recall_score(t, p, average=average, pos_label=pos_label, zero_division=0.0))


def f1(
    y_true: ArrayLike, y_pred: ArrayLike, *, average: Average = "binary", pos_label: Any = 1
) -> float:
    """F1 score; 0.0 when precision and recall are both 0."""
    t, p = _label_pair(y_true, y_pred)
    return float(skm.f1_score(t, p, average=average, pos_label=pos_label, zero_division=0.0))


def roc_auc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Area under the ROC curve: binary scores (1-D), or one-vs-rest macro for a 2-D matrix."""
    t = _labels("y_true", y_true)
    s = _scores("y_score", y_score, rows=t.size)
    _need_both_classes(t)
    if s.ndim == 2:
        return float(skm.roc_auc_score(t, s, multi_class="ovr"))
    return float(skm.roc_auc_score(t, s))


def log_loss(y_true: ArrayLike, y_prob: ArrayLike, *, classes: ArrayLike | None = None) -> float:
    """Mean negative log-likelihood; see :func:`log_loss_per_row`."""
    return float(np.mean(log_loss_per_row(y_true, y_prob, classes=classes)))


def brier_score(y_true: ArrayLike, y_prob: ArrayLike, *, pos_label: Any = 1) -> float:
    """Mean squared gap between the positive-class probability and the 0/1 outcome."""
    t, p = _binary_probabilities(y_true, y_prob, pos_label)
    return float(np.mean((t - p) ** 2))


def calibration_bins(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    *,
    n_bins: int = 10,
    strategy: Literal["uniform", "quantile"] = "uniform",
    pos_label: Any = 1,
) -> CalibrationCurve:
    """Reliability diagram bins, as ``sklearn.calibration.calibration_curve`` bins them.

    ``uniform`` splits [0, 1] evenly; ``quantile`` puts equal numbers of rows in each bin.
    Bins are closed on the right except the first, which also takes 0.
    """
    if n_bins < 1:
        raise MetricInputError("n_bins", f"is {n_bins}", hint="use 1 or more bins")
    t, p = _binary_probabilities(y_true, y_prob, pos_label)
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.percentile(p, np.linspace(0, 1, n_bins + 1) * 100)
    else:
        raise MetricInputError("strategy", f"is {strategy!r}", hint="use 'uniform' or 'quantile'")
    bins = np.searchsorted(edges[1:-1], p)
    counts = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_predicted = np.bincount(bins, weights=p, minlength=n_bins) / counts
        fraction_positive = np.bincount(bins, weights=t, minlength=n_bins) / counts
    filled = counts > 0
    gaps = np.abs(fraction_positive[filled] - mean_predicted[filled])
    return CalibrationCurve(
        edges=edges,
        counts=counts,
        mean_predicted=mean_predicted,
        fraction_positive=fraction_positive,
        ece=float(np.sum(counts[filled] / p.size * gaps)),
    )


def confusion_matrix(
    y_true: ArrayLike, y_pred: ArrayLike, *, labels: ArrayLike | None = None
) -> ConfusionMatrix:
    """Confusion matrix over ``labels`` (default: every label seen, sorted)."""
    t, p = _label_pair(y_true, y_pred)
    order = np.unique(np.concatenate([t, p])) if labels is None else np.asarray(labels)
    return ConfusionMatrix(labels=order, counts=skm.confusion_matrix(t, p, labels=order))


def roc_curve(y_true: ArrayLike, y_score: ArrayLike, *, pos_label: Any = 1) -> ROCCurve:
    """ROC curve points of a binary scorer."""
    t = _labels("y_true", y_true)
    s = _scores("y_score", y_score, rows=t.size, ndim=1)
    _need_both_classes(t)
    fpr, tpr, thresholds = skm.roc_curve(t, s, pos_label=pos_label)
    return ROCCurve(fpr=fpr, tpr=tpr, thresholds=thresholds, auc=float(skm.auc(fpr, tpr)))


def pr_curve(y_true: ArrayLike, y_score: ArrayLike, *, pos_label: Any = 1) -> PRCurve:
    """Precision-recall curve points of a binary scorer."""
    t = _labels("y_true", y_true)
    s = _scores("y_score", y_score, rows=t.size, ndim=1)
    _need_both_classes(t)
    prec, rec, thresholds = skm.precision_recall_curve(t, s, pos_label=pos_label)
    ap = skm.average_precision_score(t, s, pos_label=pos_label)
    return PRCurve(precision=prec, recall=rec, thresholds=thresholds, average_precision=float(ap))


# --- per-example losses ---------------------------------------------------------------


def squared_error(y_true: ArrayLike, y_pred: ArrayLike) -> NDArray[np.float64]:
    """``(y_true - y_pred) ** 2`` per row."""
    t, p = _numeric_pair(y_true, y_pred)
    return (t - p) ** 2


def absolute_error(y_true: ArrayLike, y_pred: ArrayLike) -> NDArray[np.float64]:
    """``|y_true - y_pred|`` per row."""
    t, p = _numeric_pair(y_true, y_pred)
    return np.abs(t - p)


def brier_per_row(
    y_true: ArrayLike, y_prob: ArrayLike, *, pos_label: Any = 1
) -> NDArray[np.float64]:
    """``(1[y_true == pos_label] - y_prob) ** 2`` per row; its mean is the Brier score."""
    t, p = _binary_probabilities(y_true, y_prob, pos_label)
    return (t - p) ** 2


def zero_one_loss(y_true: ArrayLike, y_pred: ArrayLike) -> NDArray[np.float64]:
    """1.0 where the predicted label is wrong, 0.0 where it is right."""
    t, p = _label_pair(y_true, y_pred)
    return (t != p).astype(np.float64)


def log_loss_per_row(
    y_true: ArrayLike, y_prob: ArrayLike, *, classes: ArrayLike | None = None
) -> NDArray[np.float64]:
    """Negative log-probability given to each row's true class.

    Probabilities are clipped to ``[eps, 1 - eps]`` (float64 eps), as scikit-learn's
    ``log_loss`` does, so a confident mistake costs ~36 instead of infinity.

    Args:
        y_true: true labels.
        y_prob: 1-D probability of the positive class (the larger of two classes), or
            an ``(n, k)`` matrix with one column per class in the order of ``classes``.
        classes: column labels of a 2-D ``y_prob``; default: the sorted labels of
            ``y_true`` (the order of a scikit-learn model's ``classes_``).
    """
    t = _labels("y_true", y_true)
    prob = _scores("y_prob", y_prob, rows=t.size)
    if np.any((prob < 0) | (prob > 1)):
        raise MetricInputError(
            "y_prob", "has values outside [0, 1]", hint="pass probabilities, not scores"
        )
    if prob.ndim == 1:
        prob = np.column_stack([1.0 - prob, prob])
    labels = np.unique(t) if classes is None else np.asarray(classes)
    if labels.size == 1 and classes is None and prob.shape[1] == 2:
        raise MetricInputError(
            "y_true", f"holds one class ({labels[0]!r})", hint="pass classes=[negative, positive]"
        )
    if labels.size != prob.shape[1]:
        raise MetricInputError(
            "y_prob",
            f"has {prob.shape[1]} columns for {labels.size} classes {labels.tolist()}",
            hint="pass classes= in the column order of y_prob (the model's classes_)",
        )
    column = np.searchsorted(labels, t) if classes is None else _column_of(labels, t)
    eps = np.finfo(np.float64).eps
    picked = np.clip(prob, eps, 1 - eps)[np.arange(t.size), column]
    return -np.log(picked)


def _column_of(labels: NDArray[Any], t: NDArray[Any]) -> NDArray[np.intp]:
    lookup = {label: i for i, label in enumerate(labels.tolist())}
    unknown = sorted({v for v in t.tolist() if v not in lookup}, key=str)
    if unknown:
        raise MetricInputError(
            "y_true", f"holds labels {unknown} not in classes", hint="add them to classes"
        )
    return np.array([lookup[v] for v in t.tolist()], dtype=np.intp)


# --- bootstrap ------------------------------------------------------------------------


def bootstrap_distribution(
    statistic: Callable[..., float], *arrays: ArrayLike, n_resamples: int = 1000, seed: int = 0
) -> NDArray[np.float64]:
    """Value of ``statistic(*arrays)`` on ``n_resamples`` row resamples, drawn with replacement.

    Rows are resampled together (paired). Resample ``b`` is row ``b`` of
    ``numpy.random.default_rng(seed).integers(0, n, (n_resamples, n))``, drawn in
    batches to bound memory (batching does not change the draws): the resamples
    ``scipy.stats.bootstrap(..., paired=True)`` draws from the same generator.
    """
    columns = _resample_inputs(arrays, n_resamples)
    out = np.empty(n_resamples)
    for start, idx in _resample_batches(len(columns[0]), n_resamples, seed):
        for i, rows in enumerate(idx):
            try:
                out[start + i] = statistic(*(c[rows] for c in columns))
            except ValueError as error:
                raise MetricInputError(
                    "bootstrap resample",
                    f"{start + i} made the statistic fail ({error})",
                    hint="use more rows, so that every resample holds each class the metric needs",
                ) from error
    return out


def bootstrap_ci(
    metric_fn: Callable[[Any, Any], float],
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> ConfidenceInterval:
    """Percentile-bootstrap interval of ``metric_fn(y_true, y_pred)``.

    Assumes independent rows and a metric that is a smooth function of the data (the
    percentile interval is poor for tiny n or for metrics at their bound, e.g.
    accuracy 1.0). For mae, rmse, r2, accuracy, log_loss, brier_score and binary
    roc_auc the resamples are evaluated in one vectorised step (:func:`resampled_metric`);
    the result is the same as calling the metric on each resample.

    Example:
        >>> ci = bootstrap_ci(rmse, y_test, model.predict(x_test), seed=7)
        >>> f"{ci.estimate:.3f} [{ci.low:.3f}, {ci.high:.3f}]"
    """
    _check_confidence(confidence)
    t, p = _resample_inputs((y_true, y_pred), n_resamples)
    estimate = metric_fn(t, p)
    fast = resampled_metric(metric_fn, t, [p], n_resamples=n_resamples, seed=seed)
    if fast is None:
        dist = bootstrap_distribution(metric_fn, t, p, n_resamples=n_resamples, seed=seed)
    else:
        dist = fast[:, 0]
    low, high = percentile_interval(dist, confidence)
    return ConfidenceInterval(
        estimate=float(estimate), low=low, high=high, confidence=confidence, n_resamples=n_resamples
    )


def resampled_metric(
    metric_fn: Callable[..., float],
    y_true: ArrayLike,
    predictions: Sequence[ArrayLike],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
) -> NDArray[np.float64] | None:
    """``metric_fn(y_true, p)`` for each ``p`` on shared bootstrap resamples, vectorised.

    Returns ``(n_resamples, len(predictions))`` values, the same as
    :func:`bootstrap_distribution` gives for the same seed, or None when the metric
    has no vectorised form. Covered: the metrics in ``MEAN_LOSSES`` (mean of a
    per-row loss), ``r2`` (resampled mean squared error over resampled variance) and
    binary ``roc_auc`` (Mann-Whitney U with resample counts as weights, ~100x
    faster than calling scikit-learn per resample).
    """
    decomposed = MEAN_LOSSES.get(metric_fn)
    if decomposed is not None:
        loss, finish = decomposed
        columns = np.column_stack([loss(y_true, p) for p in predictions])
        return np.asarray(finish(resampled_means(columns, n_resamples=n_resamples, seed=seed)))
    if metric_fn is r2:
        t = _numeric("y_true", y_true)
        centred = t - t.mean()  # keeps mean(c^2) - mean(c)^2 free of cancellation
        errors = [squared_error(t, p) for p in predictions]
        means = resampled_means(
            np.column_stack([*errors, centred, centred**2]), n_resamples=n_resamples, seed=seed
        )
        variance = means[:, -1] - means[:, -2] ** 2
        if np.any(variance <= 0):
            raise MetricInputError(
                "bootstrap resample",
                f"{int(np.argmax(variance <= 0))} has a constant y_true, so R2 is undefined",
                hint="use more rows, so that no resample is constant",
            )
        return 1.0 - means[:, :-2] / variance[:, None]
    if metric_fn is roc_auc:
        t = _labels("y_true", y_true)
        scores = [_scores("y_score", p, rows=t.size) for p in predictions]
        classes = np.unique(t)
        if classes.size == 2 and all(s.ndim == 1 for s in scores):
            positive = t == classes[1]  # scikit-learn's positive class: the larger label
            return np.column_stack([_resampled_auc(positive, s, n_resamples, seed) for s in scores])
    return None


def _resampled_auc(
    positive: NDArray[np.bool_], score: NDArray[np.float64], n_resamples: int, seed: int
) -> NDArray[np.float64]:
    order = np.argsort(score, kind="stable")
    pos = positive[order]
    ranked = score[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])  # tie groups
    n = score.size
    out = np.empty(n_resamples)
    for start, idx in _resample_batches(n, n_resamples, seed, width=4):
        b = len(idx)
        # How often each row was drawn, in score order.
        flat = (idx + (np.arange(b) * n)[:, None]).ravel()
        weights = np.bincount(flat, minlength=b * n).reshape(b, n)[:, order]
        w_pos = np.add.reduceat(weights * pos, starts, axis=1)
        w_neg = np.add.reduceat(weights * ~pos, starts, axis=1)
        neg_below = np.cumsum(w_neg, axis=1) - w_neg
        u = np.sum(w_pos * (neg_below + 0.5 * w_neg), axis=1)
        pairs = w_pos.sum(axis=1) * w_neg.sum(axis=1)
        if np.any(pairs == 0):
            raise MetricInputError(
                "bootstrap resample",
                f"{start + int(np.argmax(pairs == 0))} holds one class only, so ROC AUC is undefined",
                hint="use more rows, so that every resample holds each class the metric needs",
            )
        out[start : start + b] = u / pairs
    return out


def resampled_means(
    values: ArrayLike, *, n_resamples: int = 1000, seed: int = 0
) -> NDArray[np.float64]:
    """Mean of ``values`` (per row; 2-D: per column) on each bootstrap resample of the rows.

    Draws the same resamples as :func:`bootstrap_distribution` with the same seed.
    """
    v = np.asarray(values, dtype=np.float64)
    _resample_inputs((v,), n_resamples)
    out = np.empty((n_resamples, *v.shape[1:]))
    width = int(np.prod(v.shape[1:]))
    for start, idx in _resample_batches(len(v), n_resamples, seed, width=width):
        out[start : start + len(idx)] = v[idx].mean(axis=1)
    return out


def percentile_interval(
    distribution: NDArray[np.float64], confidence: float
) -> tuple[float, float]:
    """The ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles (linear)."""
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(distribution, [tail, 1.0 - tail])
    return float(low), float(high)


def _correct(y_true: ArrayLike, y_pred: ArrayLike) -> NDArray[np.float64]:
    return 1.0 - zero_one_loss(y_true, y_pred)


def _identity(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return x


# metric -> (per-example loss, f) with metric(y, p) == f(mean(loss(y, p))); lets
# bootstraps and paired tests work on per-example values.
MEAN_LOSSES: dict[
    Callable[..., float], tuple[Callable[..., NDArray[np.float64]], Callable[..., Any]]
] = {
    mae: (absolute_error, _identity),
    rmse: (squared_error, np.sqrt),
    accuracy: (_correct, _identity),
    log_loss: (log_loss_per_row, _identity),
    brier_score: (brier_per_row, _identity),
}


def _resample_batches(
    n: int, n_resamples: int, seed: int, *, width: int = 1
) -> Iterator[tuple[int, NDArray[np.int64]]]:
    # Draws continue one stream across calls, so batch sizes never change the resamples.
    rng = np.random.default_rng(seed)
    batch = max(1, min(n_resamples, _BATCH_CELLS // (n * width)))
    for start in range(0, n_resamples, batch):
        yield start, rng.integers(0, n, (min(batch, n_resamples - start), n))


def _resample_inputs(arrays: tuple[ArrayLike, ...], n_resamples: int) -> list[NDArray[Any]]:
    if not isinstance(n_resamples, int) or n_resamples < 1:
        raise MetricInputError(
            "n_resamples", f"is {n_resamples!r}", hint="use a positive integer, e.g. 1000"
        )
    if not arrays:
        raise MetricInputError("arrays", "are missing", hint="pass the arrays to resample")
    columns = [np.asarray(a) for a in arrays]
    n = len(columns[0]) if columns[0].ndim else 0
    if n == 0:
        raise MetricInputError("arrays", "are empty", hint="pass at least one row")
    for i, c in enumerate(columns):
        if c.ndim == 0 or len(c) != n:
            raise MetricInputError(
                f"array {i}", f"has {c.shape} rows, not {n}", hint="pass one row per example"
            )
    return columns


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise MetricInputError(
            "confidence", f"is {confidence!r}", hint="use a level in (0, 1), e.g. 0.95"
        )


# --- validation -----------------------------------------------------------------------


def _numeric(name: str, values: ArrayLike) -> NDArray[np.float64]:
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise MetricInputError(name, "is not numeric", hint="pass numbers") from None
    if x.ndim != 1:
        raise MetricInputError(
            name, f"has shape {x.shape}", hint="pass a 1-D array, one value per row"
        )
    if x.size == 0:
        raise MetricInputError(name, "is empty", hint="pass at least one row")
    if not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).sum())
        raise MetricInputError(
            name, f"holds {bad} NaN or infinite values", hint="drop or impute those rows first"
        )
    return x


def _labels(name: str, values: ArrayLike) -> NDArray[Any]:
    x = np.asarray(values)
    if x.ndim != 1:
        raise MetricInputError(name, f"has shape {x.shape}", hint="pass a 1-D array of labels")
    if x.size == 0:
        raise MetricInputError(name, "is empty", hint="pass at least one row")
    if x.dtype.kind == "f" and np.isnan(x).any():
        raise MetricInputError(
            name, f"holds {int(np.isnan(x).sum())} NaN labels", hint="drop those rows first"
        )
    if x.dtype.kind == "O" and any(v is None or v != v for v in x):
        raise MetricInputError(
            name, "holds missing labels (None or NaN)", hint="drop those rows first"
        )
    return x


def _scores(
    name: str, values: ArrayLike, *, rows: int, ndim: int | None = None
) -> NDArray[np.float64]:
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise MetricInputError(
            name, "is not numeric", hint="pass scores or probabilities"
        ) from None
    if x.ndim not in ((1, 2) if ndim is None else (ndim,)) or len(x) != rows:
        raise MetricInputError(
            name,
            f"has shape {x.shape} for {rows} labels",
            hint="pass one score (or one row of them) per label",
        )
    if not np.isfinite(x).all():
        raise MetricInputError(
            name, "holds NaN or infinite values", hint="check the model's output"
        )
    return x


def _numeric_pair(
    y_true: ArrayLike, y_pred: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    t, p = _numeric("y_true", y_true), _numeric("y_pred", y_pred)
    _same_length(t, p)
    return t, p


def _label_pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
    t, p = _labels("y_true", y_true), _labels("y_pred", y_pred)
    _same_length(t, p)
    return t, p


def _same_length(t: NDArray[Any], p: NDArray[Any]) -> None:
    if t.size != p.size:
        raise MetricInputError(
            "y_pred",
            f"has {p.size} rows but y_true has {t.size}",
            hint="pass one prediction per row",
        )


def _need_both_classes(t: NDArray[Any]) -> None:
    if np.unique(t).size < 2:
        raise MetricInputError(
            "y_true",
            f"holds one class ({t[0]!r})",
            hint="ranking metrics need positive and negative rows",
        )


def _binary_probabilities(
    y_true: ArrayLike, y_prob: ArrayLike, pos_label: Any
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    t = _labels("y_true", y_true)
    p = _scores("y_prob", y_prob, rows=t.size, ndim=1)
    if np.any((p < 0) | (p > 1)):
        raise MetricInputError(
            "y_prob", "has values outside [0, 1]", hint="pass probabilities, not scores"
        )
    return (t == pos_label).astype(np.float64), p
