"""scikit-learn to ONNX (skl2onnx), and the check that both forms predict alike.

The graph takes one input per signature column, as a pipeline with a ColumnTransformer
does; a bare estimator (or a pipeline skl2onnx cannot feed column by column) takes its
numeric columns as one ``[N, features]`` matrix instead, which the ONNX flavor stacks
from the request's columns in signature order.

Float columns go in as doubles when skl2onnx can do it: a tree compares a feature with
its thresholds, and rounding a value to float32 moves it across a threshold now and
then (on training data HistGradientBoosting's thresholds are data values, so about 5%
of rows flip). Float32 inputs are the fallback; either way ``compare`` decides.

Two fixes to skl2onnx 1.20's tree converters, applied per conversion, never globally:
boolean node attributes (``nodes_missing_value_tracks_true``) are cast to int, and in
double mode the ensemble's values go in as double tensors (ai.onnx.ml opset 3) with
the float scores cast back to double.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from shipyard.bundle.signature import Signature
from shipyard.errors import BundleError

# Tree ops and their float attributes that double mode stores as double tensors.
_TREE_VALUES = {
    "TreeEnsembleRegressor": ("nodes_values", "target_weights", "base_values"),
    "TreeEnsembleClassifier": ("nodes_values", "class_weights", "base_values"),
}


class ConversionError(BundleError):
    """skl2onnx cannot convert the model; the bundle serves its scikit-learn form."""


@dataclass(frozen=True)
class OnnxConversion:
    """An ONNX graph and how its outputs map onto the signature's."""

    model: Any  # onnx.ModelProto
    outputs: dict[str, str]
    float_type: str  # "double" or "float"
    layout: str = "columns"  # "columns": one input per column; "matrix": one [N, features]


@dataclass(frozen=True)
class Equivalence:
    """How closely a converted form reproduces its source on the same rows.

    ``max_rel_error`` is |converted - source| / max(|source|, 1): relative for values
    above 1, absolute below. The forms are equivalent when it is within ``tolerance``
    and every label agrees.
    """

    rows: int
    max_abs_error: float
    max_rel_error: float
    labels_mismatched: int
    tolerance: float

    @property
    def passed(self) -> bool:
        return self.labels_mismatched == 0 and self.max_rel_error <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def compare(
    source: Mapping[str, np.ndarray], converted: Mapping[str, np.ndarray], *, tolerance: float
) -> Equivalence:
    """Compare two forms' outputs for the same rows, output by output."""
    max_abs = max_rel = 0.0
    mismatched = rows = 0
    for name, expected in source.items():
        got = np.asarray(converted[name])
        expected = np.asarray(expected)
        rows = len(expected)
        if got.shape != expected.shape:
            raise BundleError(f"output {name!r} has shape {got.shape}, expected {expected.shape}")
        if expected.dtype.kind in "fc" or name == "probabilities":
            a, b = got.astype(np.float64), expected.astype(np.float64)
            both_nan = np.isnan(a) & np.isnan(b)
            error = np.where(both_nan, 0.0, np.abs(a - b))
            error = np.where(np.isnan(error), np.inf, error)
            if error.size:
                max_abs = max(max_abs, float(error.max()))
                scale = np.maximum(np.nan_to_num(np.abs(b), nan=1.0), 1.0)
                max_rel = max(max_rel, float((error / scale).max()))
        else:
            mismatched += int((got.astype(str) != expected.astype(str)).sum())
    return Equivalence(rows, max_abs, max_rel, mismatched, tolerance)


def to_onnx(model: Any, signature: Signature) -> OnnxConversion:
    """Convert a fitted scikit-learn model: one ONNX input per column, else one matrix.

    Doubles are tried before floats in each layout; the first graph that onnxruntime
    loads is returned (``compare`` then decides whether it predicts alike).

    Raises:
        ConversionError: skl2onnx has no converter for a part of the model, or the
            graph it makes does not load in onnxruntime.
    """
    from shipyard.bundle.flavors.onnx import session

    errors = []
    layouts = ["columns"]
    matrix_refused = _matrix_refused(model, signature)
    if matrix_refused is None:
        layouts.append("matrix")
    for layout in layouts:
        for float_type in ("double", "float"):
            try:
                proto = _convert(model, signature, float_type, layout)
                session(proto.SerializeToString())
            except Exception as exc:  # skl2onnx raises many unrelated types
                errors.append(f"{layout}, {float_type}: {type(exc).__name__}: {str(exc)[:300]}")
                continue
            graph_outputs = [o.name for o in proto.graph.output]
            if signature.task == "classification":
                outputs = {"label": graph_outputs[0], "probabilities": graph_outputs[1]}
            else:
                outputs = {signature.outputs[0].name: graph_outputs[0]}
            return OnnxConversion(proto, outputs, float_type, layout)
    if matrix_refused is not None:
        errors.append(f"matrix: {matrix_refused}")
    raise ConversionError(
        f"skl2onnx cannot convert {type(model).__name__} ({'; '.join(errors)})",
        hint="the bundle keeps the scikit-learn form only",
    )


MATRIX_INPUT = "X"


def _matrix_refused(model: Any, signature: Signature) -> str | None:
    """Why the columns cannot be fed as one matrix, or None when they can."""
    if len(signature.inputs) < 2:
        return "one column already is one input"
    text = [s.name for s in signature.inputs if s.datatype == "BYTES"]
    if text:
        return f"string columns {text} do not fit a numeric matrix"
    if any(len(s.shape) != 1 for s in signature.inputs):
        return "a column is not one value per row"
    fitted = getattr(model, "feature_names_in_", None)
    if fitted is not None and list(fitted) != list(signature.input_names):
        # the flavor stacks columns in signature order; the model reads them in its own
        return (
            f"the model was fitted on columns {list(fitted)}, the signature orders "
            f"them {list(signature.input_names)}"
        )
    if MATRIX_INPUT in signature.input_names:
        return f"a column is named {MATRIX_INPUT!r}, the matrix input's name"
    return None


def _convert(model: Any, signature: Signature, float_type: str, layout: str = "columns") -> Any:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import (
        BooleanTensorType,
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )

    floats = DoubleTensorType if float_type == "double" else FloatTensorType
    kinds = {"BYTES": StringTensorType, "BOOL": BooleanTensorType}
    initial = []
    if layout == "matrix":
        # every column as the float type (integers up to 2**53 and booleans exactly);
        # scikit-learn converts a numeric frame to floats the same way before predicting
        initial.append((MATRIX_INPUT, floats([None, len(signature.inputs)])))
    else:
        for spec in signature.inputs:
            if spec.datatype.startswith("FP"):
                kind = floats
            elif spec.datatype.startswith(("INT", "UINT")):
                kind = Int64TensorType
            else:
                kind = kinds[spec.datatype]
            initial.append((spec.name, kind([None, 1])))
    options = None
    if signature.task == "classification":
        final = model.steps[-1][1] if hasattr(model, "steps") else model
        options = {id(final): {"zipmap": False}}
    return convert_sklearn(
        model,
        initial_types=initial,
        options=options,
        custom_conversion_functions=_tree_fixes(),
    )


def _tree_fixes() -> dict[type, Callable[..., Any]]:
    from skl2onnx.operator_converters.random_forest import (
        convert_sklearn_random_forest_classifier,
        convert_sklearn_random_forest_regressor_converter,
    )
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    # the converters skl2onnx registers for HistGradientBoosting, wrapped
    return {
        HistGradientBoostingRegressor: _with_tree_fixes(
            convert_sklearn_random_forest_regressor_converter
        ),
        HistGradientBoostingClassifier: _with_tree_fixes(convert_sklearn_random_forest_classifier),
    }


def _with_tree_fixes(convert: Callable[..., Any]) -> Callable[..., Any]:
    from skl2onnx.common.data_types import DoubleTensorType

    def converter(scope: Any, operator: Any, container: Any) -> Any:
        add_node = container.add_node

        def fixed_add_node(op_type: str, inputs: Any, outputs: Any, *args: Any, **attrs: Any):
            attrs = {k: _bools_as_ints(v) for k, v in attrs.items()}
            values = attrs.get("nodes_values")
            if op_type in _TREE_VALUES and getattr(values, "dtype", None) == np.float64:
                return _add_double_tree(add_node, scope, op_type, inputs, outputs, args, attrs)
            return add_node(op_type, inputs, outputs, *args, **attrs)

        container.add_node = fixed_add_node  # this container, this operator only
        # opset 3 keeps the classifier's thresholds in double (opset 1 rounds to float)
        double = isinstance(operator.inputs[0].type, DoubleTensorType)
        try:
            return convert(scope, operator, container, op_version=3 if double else 1)
        finally:
            del container.add_node

    return converter


def _bools_as_ints(value: Any) -> Any:
    if isinstance(value, list | tuple) and any(isinstance(v, bool | np.bool_) for v in value):
        return [int(v) for v in value]
    return value


def _add_double_tree(
    add_node: Callable[..., Any],
    scope: Any,
    op_type: str,
    inputs: Any,
    outputs: Any,
    args: tuple[Any, ...],
    attrs: dict[str, Any],
) -> Any:
    """A tree ensemble with double thresholds (opset 3); its float scores cast to double."""
    from onnx import TensorProto, numpy_helper

    for key in _TREE_VALUES[op_type]:
        if key in attrs:
            values = np.asarray(attrs.pop(key), dtype=np.float64).ravel()
            attrs[f"{key}_as_tensor"] = numpy_helper.from_array(values, name=key)
    attrs["op_version"] = 3
    outputs = [outputs] if isinstance(outputs, str) else list(outputs)
    # the regressor's only output and the classifier's second are float scores
    score = 0 if op_type == "TreeEnsembleRegressor" else 1
    float_scores = scope.get_unique_variable_name("tree_scores")
    node = add_node(
        op_type, inputs, [*outputs[:score], float_scores, *outputs[score + 1 :]], *args, **attrs
    )
    add_node(
        "Cast",
        float_scores,
        outputs[score],
        name=scope.get_unique_operator_name("CastScores"),
        to=TensorProto.DOUBLE,
    )
    return node
