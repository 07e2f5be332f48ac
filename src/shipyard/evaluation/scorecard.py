"""Which metrics describe a task, each with its bootstrap interval: the report's metric table.

Classification: accuracy, precision, recall, F1, ROC AUC, log loss, Brier score and
expected calibration error. Regression: MAE, RMSE, R², MAPE. Every value is
``evaluation.metrics``'s; this module chooses the metrics, their arguments (binary or
macro averaging, which class is positive) and how each interval is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np

from shipyard.evaluation import metrics
from shipyard.evaluation import resample_metrics as fast
from shipyard.evaluation.curves import CALIBRATION_BINS, calibration_target

LABELS = {
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "roc_auc": "ROC AUC",
    "log_loss": "Log loss",
    "brier": "Brier score",
    "ece": "Calibration error (ECE)",
    "mae": "MAE",
    "rmse": "RMSE",
    "r2": "R²",
    "mape": "MAPE",
}
GREATER_IS_BETTER = {
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "roc_auc": True,
    "log_loss": False,
    "brier": False,
    "ece": False,
    "mae": False,
    "rmse": False,
    "r2": True,
    "mape": False,
}
# Metrics that are the mean of a per-example loss: their intervals are one vectorised
# step, cheap enough to compute for every slice too.
MEAN_METRICS = frozenset({"accuracy", "log_loss", "brier", "mae", "rmse"})
DEFAULT_HEADLINE = {"classification": "accuracy", "regression": "rmse"}
TASK_METRICS = {
    "classification": (
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
        "brier",
        "ece",
    ),
    "regression": ("mae", "rmse", "r2", "mape"),
}


@dataclass(frozen=True)
class MetricEstimate:
    """One metric's value on every row, with its bootstrap interval when it has one."""

    name: str
    value: float
    low: float | None = None
    high: float | None = None
    note: str | None = None

    @property
    def label(self) -> str:
        return LABELS.get(self.name, self.name)

    @property
    def greater_is_better(self) -> bool:
        return GREATER_IS_BETTER.get(self.name, True)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["label"] = self.label
        out["greater_is_better"] = self.greater_is_better
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricEstimate:
        return cls(data["name"], data["value"], data.get("low"), data.get("high"), data.get("note"))


def score(
    task: str,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray | None,
    classes: Sequence[str],
    *,
    n_bootstrap: int,
    confidence: float,
    seed: int,
    only_mean_intervals: bool = False,
) -> tuple[MetricEstimate, ...]:
    """Every metric of ``task`` on these rows.

    Args:
        only_mean_intervals: give intervals only to metrics in ``MEAN_METRICS`` (the
            others get a point value): used for slices, where speed matters.
    """
    plan = (
        _classification_plan(y_true, y_pred, proba, classes)
        if task == "classification"
        else _regression_plan(y_true, y_pred)
    )
    out = []
    for name, fn, arrays in plan:
        with_interval = n_bootstrap > 0 and (not only_mean_intervals or name in MEAN_METRICS)
        stat = None
        if with_interval and name not in MEAN_METRICS:
            stat = row_statistic(name, task, y_true, y_pred, proba, classes)
        out.append(_estimate(name, fn, arrays, stat, with_interval, n_bootstrap, confidence, seed))
    return tuple(out)


# (metric name, its function of the arrays, the arrays)
Plan = list[tuple[str, Callable[..., float], tuple[np.ndarray, ...]]]


def positive_class(classes: Sequence[str]) -> str:
    """The class whose probability is the score in binary metrics: the second, as in
    scikit-learn's ``classes_``."""
    return classes[1]


def label_metric(kind: str, classes: Sequence[str]) -> Callable[..., float]:
    """``evaluation.metrics``'s precision, recall or F1 on labels: binary for two classes
    (positive = ``positive_class``), else the macro average."""
    exact = {"precision": metrics.precision, "recall": metrics.recall, "f1": metrics.f1}[kind]
    if len(classes) != 2:
        return partial(exact, average="macro")
    return partial(exact, average="binary", pos_label=positive_class(classes))


def auc_inputs(
    y_true: np.ndarray, proba: np.ndarray, classes: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(truth, score) as ``metrics.roc_auc`` takes them: 0/1 and the positive class's
    probability when binary, else class indices and the probability matrix (integer
    labels sort in column order)."""
    if len(classes) == 2:
        return (y_true == positive_class(classes)).astype(np.int64), proba[:, 1]
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index.get(v, -1) for v in y_true], dtype=np.int64), proba


def row_statistic(
    name: str,
    task: str,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray | None,
    classes: Sequence[str],
) -> fast.RowStatistic | None:
    """Metric ``name`` on a resample given its row indices, for the metrics that are not
    a mean of per-row losses; None for those (``metrics.MEAN_LOSSES`` resamples them)."""
    if task == "regression":
        builders = {"r2": fast.r2_statistic, "mape": fast.mape_statistic}
        return builders[name](y_true, y_pred) if name in builders else None
    if name in ("precision", "recall", "f1"):
        positive = positive_class(classes) if len(classes) == 2 else None
        return fast.label_statistic(name, y_true, y_pred, positive)
    if name == "roc_auc" and proba is not None:
        truth, score = auc_inputs(y_true, proba, classes)
        if len(classes) == 2:
            return fast.auc_statistic(truth, score)
        return fast.ovr_auc_statistic(truth, score)
    return None


def _classification_plan(
    y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None, classes: Sequence[str]
) -> Plan:
    plan: Plan = [("accuracy", metrics.accuracy, (y_true, y_pred))]
    for kind in ("precision", "recall", "f1"):
        plan.append((kind, label_metric(kind, classes), (y_true, y_pred)))
    if proba is None:
        return plan
    truth, score = auc_inputs(y_true, proba, classes)
    plan.append(("roc_auc", metrics.roc_auc, (truth, score)))
    plan.append(("log_loss", _MeanLogLoss(classes), (y_true, proba)))
    if len(classes) == 2:
        plan.append(("brier", metrics.brier_score, (truth, score)))
    hit, prob, _ = calibration_target(y_true, proba, classes)
    plan.append(("ece", _ece, (hit, prob)))
    return plan


def _regression_plan(y_true: np.ndarray, y_pred: np.ndarray) -> Plan:
    t = np.asarray(y_true, dtype=float)
    p = np.asarray(y_pred, dtype=float)
    return [
        ("mae", metrics.mae, (t, p)),
        ("rmse", metrics.rmse, (t, p)),
        ("r2", metrics.r2, (t, p)),
        ("mape", metrics.mape, (t, p)),
    ]


class _MeanLogLoss:
    """Log loss with the probability columns named, and its per-row form for resampling."""

    def __init__(self, classes: Sequence[str]) -> None:
        self.classes = np.asarray(classes, dtype=object)

    def __call__(self, y_true: np.ndarray, proba: np.ndarray) -> float:
        return metrics.log_loss(y_true, proba, classes=self.classes)

    def per_row(self, y_true: np.ndarray, proba: np.ndarray) -> np.ndarray:
        return metrics.log_loss_per_row(y_true, proba, classes=self.classes)


def _ece(hit: np.ndarray, prob: np.ndarray) -> float:
    return metrics.calibration_bins(hit, prob, n_bins=CALIBRATION_BINS, pos_label=1).ece


def _estimate(
    name: str,
    fn: Callable[..., float],
    arrays: tuple[np.ndarray, ...],
    stat: fast.RowStatistic | None,
    with_interval: bool,
    n_bootstrap: int,
    confidence: float,
    seed: int,
) -> MetricEstimate:
    try:
        value = float(fn(*arrays))
    except ValueError as exc:  # MetricInputError, or scikit-learn refusing (a class absent)
        reason = exc.message if isinstance(exc, metrics.MetricInputError) else str(exc)
        return MetricEstimate(name, math.nan, note=f"undefined here: {reason}")
    if name == "ece":
        # the bootstrap of a binned absolute gap is biased upward; no honest interval
        return MetricEstimate(name, value, note=f"{CALIBRATION_BINS} equal-width bins; no interval")
    if not with_interval:
        return MetricEstimate(name, value)
    if isinstance(fn, _MeanLogLoss):
        dist = metrics.resampled_means(fn.per_row(*arrays), n_resamples=n_bootstrap, seed=seed)
    elif stat is not None:
        dist = resample(stat, len(arrays[0]), n_bootstrap, seed)
    else:
        loss, finish = metrics.MEAN_LOSSES[fn]
        dist = np.asarray(
            finish(metrics.resampled_means(loss(*arrays), n_resamples=n_bootstrap, seed=seed))
        )
    return _from_distribution(name, value, dist, confidence)


def resample(stat: fast.RowStatistic, n: int, n_bootstrap: int, seed: int) -> np.ndarray:
    """``stat`` on each bootstrap resample of ``n`` rows (the resamples of
    ``metrics.bootstrap_distribution`` with this seed)."""
    return metrics.bootstrap_distribution(stat, np.arange(n), n_resamples=n_bootstrap, seed=seed)


def _from_distribution(
    name: str, value: float, dist: np.ndarray, confidence: float
) -> MetricEstimate:
    finite = dist[np.isfinite(dist)]
    dropped = len(dist) - len(finite)
    if len(finite) < max(2, 0.9 * len(dist)):
        return MetricEstimate(name, value, note="too few rows for a bootstrap interval")
    low, high = metrics.percentile_interval(finite, confidence)
    note = f"{dropped} resamples where it was undefined were left out" if dropped else None
    return MetricEstimate(name, value, low, high, note)
