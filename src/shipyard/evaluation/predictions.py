"""What a model predicted for each row: labels, and class probabilities when it gives them.

Models come in a few shapes: a loaded bundle (``predict`` on columns, returning named
outputs such as ``label`` and ``probabilities``), a scikit-learn estimator (``predict`` / ``predict_proba``), or any object
with ``predict``. This module turns each into one ``Predictions``, in the order of
the rows, so the metrics never care where the numbers came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from shipyard.errors import EvaluationError

# Output names a bundle may give its class probabilities and its labels, most usual first.
PROBABILITY_OUTPUTS = ("probabilities", "probability", "proba", "predict_proba", "scores")
LABEL_OUTPUTS = ("label", "labels", "prediction", "predictions", "predicted", "class", "output")


@dataclass(frozen=True, eq=False)
class Predictions:
    """Per-row outputs. ``proba`` has one column per entry of ``classes`` (classification)."""

    y_pred: np.ndarray
    proba: np.ndarray | None = None
    classes: tuple[str, ...] = ()


def predict_rows(
    model: Any, frame: pd.DataFrame, *, task: str, classes: Sequence[str] | None = None
) -> Predictions:
    """Run ``model`` over the input rows of ``frame`` and normalize what it returns.

    Args:
        model: a loaded bundle, a scikit-learn estimator or anything with ``predict``.
        frame: the input columns only (no target).
        task: ``classification`` or ``regression``.
        classes: class labels in the order of the probability columns; by default the
            model's ``signature.classes`` or ``classes_``.

    Raises:
        EvaluationError: the model gave no usable output for this task.
    """
    known = tuple(str(c) for c in (classes or _model_classes(model)))
    if (
        task == "classification"
        and hasattr(model, "predict_proba")
        and not hasattr(model, "predict_frame")
    ):
        proba = np.asarray(model.predict_proba(frame), dtype=float)
        known = known or tuple(str(c) for c in range(proba.shape[1]))
        return _from_proba(proba, known)
    signature = getattr(model, "signature", None)
    if (
        signature is not None
        and getattr(signature, "input_names", None)
        and hasattr(model, "predict")
    ):
        # a loaded bundle: ``predict`` gives every output (probabilities too), while
        # ``predict_frame`` gives only the main one
        columns = {name: frame[name].to_numpy() for name in signature.input_names}
        raw = model.predict(columns)
    elif hasattr(model, "predict_frame"):
        raw = model.predict_frame(frame)
    else:
        raw = model.predict(frame)
    return _normalize(raw, task=task, classes=known, n_rows=len(frame))


def predict_function(model: Any, task: str) -> Any:
    """The call that serving would make for a frame of rows (used to time the model)."""
    if hasattr(model, "predict_frame"):
        return model.predict_frame
    if task == "classification" and hasattr(model, "predict_proba"):
        return model.predict_proba
    return model.predict


def _model_classes(model: Any) -> Sequence[Any]:
    signature = getattr(model, "signature", None)
    if signature is not None and getattr(signature, "classes", None):
        return tuple(signature.classes)
    return tuple(getattr(model, "classes_", ()))


def _normalize(raw: Any, *, task: str, classes: tuple[str, ...], n_rows: int) -> Predictions:
    outputs = _as_outputs(raw)
    if task == "regression":
        name = _pick(outputs, LABEL_OUTPUTS) or next(iter(outputs))
        values = np.asarray(outputs[name], dtype=float).reshape(n_rows, -1)
        if values.shape[1] != 1:
            raise EvaluationError(
                f"regression output '{name}' has {values.shape[1]} values per row; expected 1",
                hint="evaluate one target at a time",
            )
        return Predictions(y_pred=values[:, 0])
    prob_name = _pick(outputs, PROBABILITY_OUTPUTS)
    if prob_name is None and len(outputs) == 1:
        only = np.asarray(next(iter(outputs.values())))
        if only.ndim == 2 and only.shape[1] > 1 and only.dtype.kind == "f":
            prob_name = next(iter(outputs))
    if prob_name is not None:
        proba = np.asarray(outputs[prob_name], dtype=float).reshape(n_rows, -1)
        if not classes:
            classes = tuple(str(c) for c in range(proba.shape[1]))
        if proba.shape[1] != len(classes):
            raise EvaluationError(
                f"output '{prob_name}' has {proba.shape[1]} columns but the model names "
                f"{len(classes)} classes {list(classes)[:10]}",
                hint="the bundle's signature.classes must list one class per probability column",
            )
        return _from_proba(proba, classes)
    name = _pick(outputs, LABEL_OUTPUTS) or next(iter(outputs))
    labels = np.asarray(outputs[name]).reshape(n_rows)
    return Predictions(y_pred=as_labels(labels), proba=None, classes=classes)


def _from_proba(proba: np.ndarray, classes: tuple[str, ...]) -> Predictions:
    labels = np.asarray(classes, dtype=object)[np.argmax(proba, axis=1)]
    return Predictions(y_pred=labels, proba=proba, classes=classes)


def _as_outputs(raw: Any) -> dict[str, Any]:
    if isinstance(raw, pd.DataFrame):
        return {str(c): raw[c].to_numpy() for c in raw.columns}
    if isinstance(raw, pd.Series):
        return {str(raw.name or "prediction"): raw.to_numpy()}
    if isinstance(raw, Mapping):
        if not raw:
            raise EvaluationError("the model returned no outputs", hint="check its signature")
        return {str(k): v for k, v in raw.items()}
    return {"prediction": np.asarray(raw)}


def _pick(outputs: Mapping[str, Any], names: Sequence[str]) -> str | None:
    lowered = {k.lower(): k for k in outputs}
    for name in names:
        if name in lowered:
            return lowered[name]
    return None


def as_labels(values: Any) -> np.ndarray:
    """Class labels as strings, with whole floats written as ints (``1.0`` -> ``'1'``)."""
    array = np.asarray(values)
    if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
        array = array.astype(np.int64)
    return np.array([str(v) for v in array.tolist()], dtype=object)
