"""Pre-train checks on the model: it predicts the right shape, and it can learn at all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from shipyard.errors import ModelTestError
from shipyard.testing.behavioral import frame_predictor
from shipyard.testing.checks import MAX_EXAMPLES, CheckResult, Task, task_of
from shipyard.testing.examples import plain, row_dicts

Loss = Callable[[Any, Any], float]


def check_output_shape(
    model: Any,
    X: pd.DataFrame,
    y: pd.Series | np.ndarray | None = None,
    *,
    task: Task | None = None,
) -> CheckResult:
    """The model gives one finite prediction per row, shaped like ``y``, of ``y``'s kind.

    Args:
        model: a fitted model (``predict_frame`` or ``predict``), or a factory (a class
            or zero-argument callable) whose estimator is first fitted on ``X, y``.
        y: the targets; with them the shape, the numeric kind and the label set are
            checked. A ``(n, 1)`` prediction for an ``(n,)`` target fails: most loss
            functions broadcast that to ``(n, n)`` without a word.
    """
    name = "output-shape"
    try:
        if _is_factory(model):
            if y is None:
                raise ModelTestError("a model factory needs y to fit on")
            model = model()
            model.fit(X, y)
        predictions = _predict(model, X)
    except Exception as exc:
        return CheckResult(
            name, False, f"the model failed on {len(X)} rows: {type(exc).__name__}: {exc}"
        )
    metrics: dict[str, Any] = {"shape": list(predictions.shape), "dtype": str(predictions.dtype)}
    if predictions.ndim == 0 or predictions.shape[0] != len(X):
        details = f"{len(X)} rows gave predictions of shape {predictions.shape}"
        return CheckResult(name, False, details, metrics=metrics)
    if y is not None:
        target = np.asarray(y)
        if predictions.shape[1:] != target.shape[1:]:
            details = f"predictions have shape {predictions.shape}, targets {target.shape}"
            return CheckResult(name, False, details, metrics=metrics)
        if (task or task_of(y)) == "classification":
            known = np.asarray(np.isin(predictions, target)).reshape(len(X), -1).all(axis=1)
            unknown = np.logical_not(known)
            return _rows_result(
                name, X, predictions, unknown, "labels not among the targets'", metrics
            )
    if not np.issubdtype(predictions.dtype, np.number):
        details = f"predictions are {predictions.dtype}, not numbers"
        return CheckResult(name, False, details, metrics=metrics)
    finite = np.isfinite(predictions.astype(float)).reshape(len(X), -1).all(axis=1)
    return _rows_result(name, X, predictions, ~finite, "NaN or infinite predictions", metrics)


def _rows_result(
    name: str,
    X: pd.DataFrame,
    predictions: np.ndarray,
    bad: np.ndarray,
    what: str,
    metrics: dict[str, Any],
) -> CheckResult:
    positions = np.flatnonzero(bad)
    if not len(positions):
        details = f"{len(X)} rows, one prediction each, shape {predictions.shape}"
        return CheckResult(name, True, details, metrics=metrics)
    shown = positions[:MAX_EXAMPLES]
    examples = tuple(
        {"inputs": row, "prediction": plain(predictions[i])}
        for i, row in zip(shown, row_dicts(X, shown), strict=True)
    )
    return CheckResult(
        name, False, f"{len(positions)} of {len(X)} rows got {what}", examples, metrics
    )


def check_can_overfit(
    estimator_factory: Callable[[], Any],
    X_small: pd.DataFrame,
    y_small: pd.Series | np.ndarray,
    *,
    threshold: float | None = None,
    task: Task | None = None,
) -> CheckResult:
    """A fresh estimator fits the tiny batch it was trained on (R² or accuracy >= threshold).

    A model that cannot fit a few dozen rows it has seen will not learn from millions:
    the features, the target or the preprocessing are broken. Default threshold: 0.95
    R² for regression, 0.99 accuracy for classification.
    """
    name = "can-overfit"
    task = task or task_of(y_small)
    target = np.asarray(y_small)
    try:
        predictions = _predict(estimator_factory().fit(X_small, y_small), X_small)
    except Exception as exc:
        details = f"fitting {len(X_small)} rows failed: {type(exc).__name__}: {exc}"
        return CheckResult(name, False, details)
    if task == "classification":
        threshold = 0.99 if threshold is None else threshold
        misses = (predictions != target).astype(float)
        score, metric = 1.0 - float(misses.mean()), "accuracy"
    else:
        threshold = 0.95 if threshold is None else threshold
        misses = np.abs(predictions.astype(float) - target.astype(float))
        spread = float(np.sum((target - target.mean()) ** 2))
        score = 1.0 - float(np.sum(misses**2)) / spread if spread else float(np.all(misses == 0))
        metric = "r2"
    passed = bool(score >= threshold)
    worst = [] if passed else [i for i in np.argsort(-misses, kind="stable")[:5] if misses[i] > 0]
    examples = tuple(
        {"inputs": row, "target": plain(target[i]), "prediction": plain(predictions[i])}
        for i, row in zip(worst, row_dicts(X_small, worst), strict=True)
    )
    verdict = "fits" if passed else "cannot fit"
    details = (
        f"{verdict} the {len(X_small)} rows it was trained on: "
        f"{metric} {score:.3f} (threshold {threshold})"
    )
    return CheckResult(name, passed, details, examples, {metric: score, "threshold": threshold})


def check_loss_decreases(
    learner: Any,
    X: pd.DataFrame | np.ndarray | None = None,
    y: pd.Series | np.ndarray | None = None,
    *,
    steps: int = 5,
    loss: Loss | None = None,
    grow: str | None = None,
    min_decrease: float = 0.0,
) -> CheckResult:
    """The training loss falls over a few steps: the last is below the first.

    Args:
        learner: one of
            - a callable taking no arguments that runs one training step and returns
              its loss (a torch loop: zero_grad, forward, backward, step, ``loss.item()``);
            - an estimator with ``partial_fit``: one call on ``X, y`` per step;
            - an estimator with ``warm_start``: one ``fit`` per step, continuing where
              the last stopped; with ``grow`` (e.g. ``"n_estimators"``) that parameter
              is multiplied by the step number, so each fit adds to the ensemble.
        loss: ``loss(y_true, y_pred)`` for estimators; default mean squared error for
            regressors, log loss (else error rate) for classifiers.
        min_decrease: the share by which the last loss must be below the first.
    """
    name = "loss-decreases"
    try:
        losses = _losses(learner, X, y, steps=steps, loss=loss, grow=grow)
    except Exception as exc:
        return CheckResult(name, False, f"a training step failed: {type(exc).__name__}: {exc}")
    metrics = {"losses": losses}
    for step, value in enumerate(losses, start=1):
        if not np.isfinite(value):
            details = f"the loss became {value} at step {step}"
            return CheckResult(name, False, details, ({"step": step, "loss": value},), metrics)
    target = losses[0] * (1.0 - min_decrease) if losses[0] > 0 else losses[0]
    passed = losses[-1] < target
    trail = " -> ".join(f"{v:.4g}" for v in losses)
    details = f"loss over {len(losses)} steps: {trail}" + ("" if passed else "; it did not fall")
    rises = tuple(
        {"step": i + 1, "loss": losses[i], "previous": losses[i - 1]}
        for i in range(1, len(losses))
        if losses[i] >= losses[i - 1]
    )
    return CheckResult(name, passed, details, () if passed else rises, metrics)


def _losses(
    learner: Any, X: Any, y: Any, *, steps: int, loss: Loss | None, grow: str | None
) -> list[float]:
    if steps < 2:
        raise ModelTestError(f"steps is {steps}", hint="use at least 2 steps to see a trend")
    if not hasattr(learner, "fit") and not hasattr(learner, "partial_fit"):
        if not callable(learner):
            raise ModelTestError(f"a {type(learner).__name__} cannot be trained step by step")
        return [float(learner()) for _ in range(steps)]
    if X is None or y is None:
        raise ModelTestError("an estimator needs X and y to train on")
    from sklearn.base import is_classifier

    classifier = is_classifier(learner)
    out = []
    if hasattr(learner, "partial_fit"):
        first = {"classes": np.unique(y)} if classifier else {}
        for i in range(steps):
            learner.partial_fit(X, y, **(first if i == 0 else {}))
            out.append(_estimator_loss(learner, X, y, loss, classifier))
        return out
    if "warm_start" not in learner.get_params():
        raise ModelTestError(
            f"{type(learner).__name__} has neither partial_fit nor warm_start",
            hint="pass a callable that runs one training step and returns its loss",
        )
    start = learner.get_params()[grow] if grow else 0
    learner.set_params(warm_start=True)
    for i in range(steps):
        if grow:
            learner.set_params(**{grow: start * (i + 1)})
        learner.fit(X, y)
        out.append(_estimator_loss(learner, X, y, loss, classifier))
    return out


def _estimator_loss(learner: Any, X: Any, y: Any, loss: Loss | None, classifier: bool) -> float:
    if loss is not None:
        return float(loss(y, learner.predict(X)))
    if classifier and hasattr(learner, "predict_proba"):
        from sklearn.metrics import log_loss

        return float(log_loss(y, learner.predict_proba(X), labels=learner.classes_))
    if classifier:
        return float(np.mean(learner.predict(X) != np.asarray(y)))
    return float(np.mean((learner.predict(X) - np.asarray(y, dtype=float)) ** 2))


def _predict(model: Any, X: pd.DataFrame) -> np.ndarray:
    return np.asarray(frame_predictor(model)(X))


def _is_factory(model: Any) -> bool:
    return isinstance(model, type) or not (
        hasattr(model, "predict") or hasattr(model, "predict_frame")
    )
