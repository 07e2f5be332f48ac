"""Score one model on one frozen dataset: metrics with intervals, curves, slices, worst rows, cost.

``evaluate`` is the entry point. The ``Evaluation`` it returns keeps every row's
prediction and loss, so two evaluations on the same dataset can later be compared
row by row (``compare``), even after a round trip through JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shipyard.errors import EvaluationError
from shipyard.evaluation import curves, metrics
from shipyard.evaluation.operational import OperationalStats, measure_operational
from shipyard.evaluation.predictions import as_labels, predict_function, predict_rows
from shipyard.evaluation.scorecard import DEFAULT_HEADLINE, TASK_METRICS, MetricEstimate, score
from shipyard.evaluation.slices import SliceSpec, as_spec, slice_groups

TASKS = ("classification", "regression")
MAX_EXAMPLE_COLUMNS = 40


@dataclass(frozen=True)
class SliceRow:
    """One slice value: how many rows hold it and the metrics on those rows."""

    value: str
    n: int
    metrics: Mapping[str, MetricEstimate]


@dataclass(frozen=True)
class SliceResult:
    """Metrics per value (or bin) of one feature."""

    feature: str
    kind: str  # categorical | numeric
    rows: tuple[SliceRow, ...]


@dataclass(frozen=True)
class WorstExample:
    """One badly predicted row: its index in the dataset, outcome and inputs."""

    row: int
    outcome: Mapping[str, Any]
    inputs: Mapping[str, Any]


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Everything ``evaluate`` measured, with per-row predictions kept for pairing.

    ``losses`` holds per-row losses by name: ``squared_error`` and ``absolute_error``
    (regression), ``zero_one`` and, with probabilities, ``log_loss`` (classification).
    """

    task: str
    target: str
    dataset_digest: str
    classes: tuple[str, ...]
    headline_metric: str
    metrics: tuple[MetricEstimate, ...]
    confidence: float
    n_bootstrap: int
    seed: int
    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None
    losses: Mapping[str, np.ndarray]
    curves: Mapping[str, Any] = field(default_factory=dict)
    confusion_matrix: Mapping[str, Any] | None = None
    residuals: Mapping[str, Any] | None = None
    slices: tuple[SliceResult, ...] = ()
    worst_examples: tuple[WorstExample, ...] = ()
    operational: OperationalStats | None = None

    @property
    def n_rows(self) -> int:
        return len(self.y_true)

    def metric(self, name: str) -> MetricEstimate:
        """The estimate of metric ``name``.

        Raises:
            EvaluationError: no metric of that name was computed.
        """
        for m in self.metrics:
            if m.name == name:
                return m
        raise EvaluationError(
            f"metric '{name}' was not computed for this {self.task} evaluation",
            hint=f"choose one of {[m.name for m in self.metrics]}",
        )

    def to_dict(self, *, per_example: bool = True) -> dict[str, Any]:
        """The JSON form; ``per_example`` adds every row's truth, prediction and losses."""
        from shipyard.evaluation.serialize import evaluation_to_dict

        return evaluation_to_dict(self, per_example=per_example)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evaluation:
        """Rebuild an evaluation from ``to_dict()`` output (which must hold ``per_example``)."""
        from shipyard.evaluation.serialize import evaluation_from_dict

        return evaluation_from_dict(data)


def evaluate(
    model: Any,
    frame: pd.DataFrame,
    target: str,
    *,
    task: str | None = None,
    dataset_digest: str,
    slices: Sequence[str | SliceSpec] | None = None,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    classes: Sequence[str] | None = None,
    features: Sequence[str] | None = None,
    headline: str | None = None,
    top_k: int = 10,
    measure: bool = True,
    model_path: str | Path | None = None,
) -> Evaluation:
    """Score ``model`` on ``frame`` and describe how well and how fast it predicts.

    Example:
        >>> ev = evaluate(model, test_df, "price", task="regression",
        ...               dataset_digest=dataset.digest, slices=["region", "area"])
        >>> ev.metric("rmse").value, ev.metric("rmse").low, ev.metric("rmse").high

    Args:
        model: a loaded bundle (``predict_frame``), a scikit-learn estimator, or any
            object with ``predict`` (and ``predict_proba`` for class probabilities).
        frame: the evaluation rows, target column included.
        target: the column holding the true value or label.
        task: ``classification`` or ``regression``; default: the model's signature.
        dataset_digest: sha256 of the frozen dataset; comparisons demand equal digests.
        slices: features to break metrics down by (``SliceSpec`` to set numeric bins).
        n_bootstrap: resamples for every interval (0: no intervals).
        features: input columns; default: the model signature's, else all but target.
        headline: the metric the summary and verdict lead with (default accuracy / rmse).
        top_k: how many worst rows to show.
        measure: time the model and measure its memory (``OperationalStats``).
        model_path: bundle directory or model file, for the size on disk.

    Raises:
        EvaluationError: unknown task or target, empty frame, or model output unusable.
    """
    task = _task_of(model, task)
    inputs = _inputs(model, frame, target, features)
    predicted = predict_rows(model, inputs, task=task, classes=classes)
    if task == "classification":
        y_true = as_labels(frame[target].to_numpy())
        y_pred = as_labels(predicted.y_pred)
        known = predicted.classes or tuple(sorted(set(y_true) | set(y_pred)))
        proba = predicted.proba
    else:
        y_true = _numeric_target(frame[target], target)
        y_pred = np.asarray(predicted.y_pred, dtype=float)
        known, proba = (), None
    headline = headline or DEFAULT_HEADLINE[task]
    if headline not in TASK_METRICS[task]:
        raise EvaluationError(
            f"'{headline}' is not a {task} metric",
            hint=f"choose the headline from {list(TASK_METRICS[task])}",
        )

    def score_rows(rows: np.ndarray | slice, fast: bool) -> tuple[MetricEstimate, ...]:
        return score(
            task,
            y_true[rows],
            y_pred[rows],
            None if proba is None else proba[rows],
            known,
            n_bootstrap=n_bootstrap,
            confidence=confidence,
            seed=seed,
            only_mean_intervals=fast,
        )

    return Evaluation(
        task=task,
        target=target,
        dataset_digest=dataset_digest,
        classes=tuple(known),
        headline_metric=headline,
        metrics=score_rows(slice(None), False),
        confidence=confidence,
        n_bootstrap=n_bootstrap,
        seed=seed,
        y_true=y_true,
        y_pred=y_pred,
        proba=proba,
        losses=_losses(task, y_true, y_pred, proba, known),
        curves=_curves(y_true, proba, known) if proba is not None else {},
        confusion_matrix=curves.confusion(y_true, y_pred, known)
        if task == "classification"
        else None,
        residuals=curves.residual_sample(y_true, y_pred, seed=seed)
        if task == "regression"
        else None,
        slices=tuple(_slice(frame, as_spec(s), score_rows) for s in slices or ()),
        worst_examples=_worst(task, inputs, y_true, y_pred, proba, known, top_k),
        operational=(
            measure_operational(
                predict_function(model, task), inputs, model_path=model_path, seed=seed
            )
            if measure
            else None
        ),
    )


def _task_of(model: Any, task: str | None) -> str:
    task = task or getattr(getattr(model, "signature", None), "task", None)
    if task not in TASKS:
        raise EvaluationError(
            f"unknown task {task!r}", hint="pass task='classification' or task='regression'"
        )
    return task


def _inputs(
    model: Any, frame: pd.DataFrame, target: str, features: Sequence[str] | None
) -> pd.DataFrame:
    if target not in frame.columns:
        raise EvaluationError(
            f"target column '{target}' is not in the evaluation data",
            hint=f"choose one of {sorted(map(str, frame.columns))[:20]}",
        )
    if len(frame) == 0:
        raise EvaluationError(
            "the evaluation data has no rows", hint="evaluate on a non-empty dataset"
        )
    if features is None:
        signature = getattr(model, "signature", None)
        names = list(getattr(signature, "input_names", []) or [])
        features = names if names and all(n in frame.columns for n in names) else None
    if features is None:
        features = [c for c in frame.columns if c != target]
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise EvaluationError(
            f"the evaluation data lacks input columns {missing}",
            hint="evaluate on a dataset with the columns the model was trained on",
        )
    return frame.loc[:, list(features)].reset_index(drop=True)


def _numeric_target(column: pd.Series, target: str) -> np.ndarray:
    try:
        values = column.to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise EvaluationError(
            f"target '{target}' is not numeric", hint="is this a classification task?"
        ) from None
    return values


def _losses(
    task: str,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray | None,
    classes: Sequence[str],
) -> dict[str, np.ndarray]:
    if task == "regression":
        return {
            "squared_error": metrics.squared_error(y_true, y_pred),
            "absolute_error": metrics.absolute_error(y_true, y_pred),
        }
    out = {"zero_one": metrics.zero_one_loss(y_true, y_pred)}
    if proba is not None:
        out["log_loss"] = metrics.log_loss_per_row(
            y_true, proba, classes=np.asarray(classes, dtype=object)
        )
    return out


def _curves(y_true: np.ndarray, proba: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    return {
        "roc": curves.roc_curves(y_true, proba, classes),
        "pr": curves.pr_curves(y_true, proba, classes),
        "calibration": curves.calibration(y_true, proba, classes),
    }


def _slice(frame: pd.DataFrame, spec: SliceSpec, score_rows: Any) -> SliceResult:
    kind, groups = slice_groups(frame.reset_index(drop=True), spec)
    rows = []
    for group in groups:
        estimates = score_rows(np.flatnonzero(group.mask), True)
        rows.append(SliceRow(group.value, int(group.mask.sum()), {m.name: m for m in estimates}))
    return SliceResult(spec.feature, kind, tuple(rows))


def _worst(
    task: str,
    inputs: pd.DataFrame,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray | None,
    classes: Sequence[str],
    top_k: int,
) -> tuple[WorstExample, ...]:
    """Regression: largest absolute errors. Classification: wrong rows, most confident first."""
    if top_k <= 0:
        return ()
    if task == "regression":
        error = y_pred - y_true
        order = np.argsort(-np.abs(error), kind="stable")[:top_k]
        outcomes = [
            {"actual": float(y_true[i]), "predicted": float(y_pred[i]), "error": float(error[i])}
            for i in order
        ]
    else:
        wrong = np.flatnonzero(y_true != y_pred)
        if proba is not None:
            column = {c: i for i, c in enumerate(classes)}
            true_col = np.array([column.get(v, -1) for v in y_true[wrong]])
            p_pred = proba[wrong].max(axis=1)
            p_true = np.where(true_col >= 0, proba[wrong, np.maximum(true_col, 0)], 0.0)
            order_in_wrong = np.lexsort((p_true, -p_pred))[:top_k]
            order = wrong[order_in_wrong]
            outcomes = [
                {
                    "actual": y_true[i],
                    "predicted": y_pred[i],
                    "P(predicted)": float(p_pred[j]),
                    "P(actual)": float(p_true[j]),
                }
                for i, j in zip(order, order_in_wrong, strict=True)
            ]
        else:
            order = wrong[:top_k]
            outcomes = [{"actual": y_true[i], "predicted": y_pred[i]} for i in order]
    shown = list(inputs.columns[:MAX_EXAMPLE_COLUMNS])
    return tuple(
        WorstExample(
            int(i), outcome, {str(c): _plain(inputs.iat[int(i), k]) for k, c in enumerate(shown)}
        )
        for i, outcome in zip(order, outcomes, strict=True)
    )


def _plain(value: Any) -> Any:
    """A cell as a JSON-ready Python value."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):  # list-like cells
        pass
    return str(value)
