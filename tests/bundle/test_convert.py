"""scikit-learn pipelines convert to ONNX and serve only when they predict alike.

Tolerances stated here: a linear pipeline in double matches to 1e-9 relative; tree
ensembles score in float32 inside onnxruntime and match to 1e-6 relative; the build's
default gate is 1e-4 (|onnx - sklearn| / max(|sklearn|, 1)).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from shipyard.bundle import build_bundle, infer_signature, load_bundle
from shipyard.bundle.convert import ConversionError, _convert, compare, to_onnx
from shipyard.bundle.flavors.onnx import session

from .conftest import NUMERIC, preprocessing


def _both_forms(bundle_path, frame: pd.DataFrame) -> tuple[dict, dict]:
    columns = {c: frame[c].to_numpy() for c in frame.columns}
    native = load_bundle(bundle_path, prefer="native")
    onnx = load_bundle(bundle_path, prefer="onnx")
    assert (native.flavor, onnx.flavor) == ("sklearn", "onnx")
    return native.predict(columns), onnx.predict(columns)


def _onnx_matches_classifier(
    bundle_path, model, frame: pd.DataFrame, atol: float
) -> tuple[dict, dict]:
    """Both forms of a classifier's bundle, once the ONNX form's labels equal ``model``'s
    and its probabilities agree within ``atol``."""
    native, onnx = _both_forms(bundle_path, frame)
    np.testing.assert_array_equal(onnx["label"], model.predict(frame))
    np.testing.assert_allclose(onnx["probabilities"], model.predict_proba(frame), atol=atol)
    return native, onnx


@pytest.mark.parametrize(("pipeline", "rtol"), [("ridge_pipeline", 1e-9), ("hgb_pipeline", 1e-6)])
def test_pipeline_serves_as_onnx_and_keeps_both_forms(
    request, housing, tmp_path, pipeline, rtol
) -> None:
    model = request.getfixturevalue(pipeline)
    frame, _ = housing
    bundle = build_bundle(
        model, tmp_path / "b", name="housing", input_example=frame.head(5), eval_frame=frame
    )

    manifest = bundle.manifest
    assert manifest.flavor == "onnx"
    assert manifest.forms["onnx"].converted_from == "sklearn"
    assert {"model/model.skops", "model/model.onnx"} <= set(manifest.files)
    equivalence = manifest.forms["onnx"].options["equivalence"]
    assert equivalence["passed"] and equivalence["rows"] == len(frame)
    assert equivalence["max_rel_error"] <= rtol
    assert manifest.environment["skl2onnx"]

    native, onnx = _both_forms(bundle.path, frame)
    np.testing.assert_allclose(onnx["prediction"], native["prediction"], rtol=rtol)
    np.testing.assert_allclose(native["prediction"], model.predict(frame), rtol=0)
    assert onnx["prediction"].dtype == native["prediction"].dtype == np.float64


def test_hist_gradient_boosting_converts_in_double(hgb_pipeline, housing) -> None:
    frame, _ = housing
    conversion = to_onnx(hgb_pipeline, infer_signature(hgb_pipeline, frame))
    assert conversion.float_type == "double"
    tree = next(n for n in conversion.model.graph.node if n.op_type == "TreeEnsembleRegressor")
    assert "nodes_values_as_tensor" in {a.name for a in tree.attribute}


def test_float32_inputs_flip_tree_splits_and_the_check_catches_it(hgb_pipeline, housing) -> None:
    # why conversion prefers doubles: float32 rounding moves values across thresholds
    frame, _ = housing
    signature = infer_signature(hgb_pipeline, frame)
    graph = _convert(hgb_pipeline, signature, "float")
    feeds = {c: frame[[c]].to_numpy(np.float32) for c in ("rooms", "age", "income")}
    feeds["region"] = frame[["region"]].to_numpy(object)
    got = session(graph.SerializeToString()).run(None, feeds)[0].ravel()
    check = compare(
        {"prediction": hgb_pipeline.predict(frame)}, {"prediction": got}, tolerance=1e-4
    )
    assert not check.passed
    assert check.max_abs_error > 1.0


def test_classifier_serves_labels_and_probabilities_through_onnx(
    logistic_pipeline, housing, tmp_path
) -> None:
    frame, _ = housing
    bundle = build_bundle(
        logistic_pipeline,
        tmp_path / "b",
        name="band",
        input_example=frame.head(5),
        eval_frame=frame,
    )
    assert bundle.manifest.flavor == "onnx"
    assert bundle.signature.classes == tuple(logistic_pipeline.classes_)

    native, onnx = _onnx_matches_classifier(bundle.path, logistic_pipeline, frame, atol=1e-9)
    np.testing.assert_allclose(onnx["probabilities"].sum(axis=1), 1.0, rtol=1e-9)
    np.testing.assert_array_equal(native["label"], onnx["label"])


def test_hist_gradient_boosting_classifier_converts_too(housing, price_band, tmp_path) -> None:
    frame, _ = housing
    model = Pipeline(
        [
            ("pre", preprocessing()),
            ("model", HistGradientBoostingClassifier(max_iter=30, random_state=0)),
        ]
    )
    model.fit(frame, price_band)
    bundle = build_bundle(
        model, tmp_path / "b", name="band", input_example=frame.head(5), eval_frame=frame
    )
    assert bundle.manifest.flavor == "onnx"
    assert bundle.manifest.forms["onnx"].options["float_type"] == "double"
    _onnx_matches_classifier(bundle.path, model, frame, atol=1e-6)


def test_an_onnx_form_beyond_tolerance_is_not_kept(hgb_pipeline, housing, tmp_path) -> None:
    frame, _ = housing
    bundle = build_bundle(
        hgb_pipeline,
        tmp_path / "b",
        name="housing",
        input_example=frame.head(5),
        eval_frame=frame,
        onnx_tolerance=0.0,
    )
    manifest = bundle.manifest
    assert manifest.flavor == "sklearn"
    assert list(manifest.forms) == ["sklearn"]
    assert not (bundle.path / "model" / "model.onnx").exists()
    recorded = manifest.metadata["onnx"]
    assert recorded["served"] is False
    assert 0 < recorded["equivalence"]["max_abs_error"] < 1e-3
    assert load_bundle(bundle.path).flavor == "sklearn"


def test_a_model_skl2onnx_cannot_convert_keeps_the_sklearn_form(housing, tmp_path) -> None:
    frame, price = housing
    log_age = ColumnTransformer([("log", FunctionTransformer(np.log1p), ["age"])])
    model = Pipeline([("pre", log_age), ("model", Ridge())]).fit(frame, price)
    bundle = build_bundle(model, tmp_path / "b", name="housing", input_example=frame.head(5))
    assert bundle.manifest.flavor == "sklearn"
    assert "FunctionTransformer" in bundle.manifest.metadata["onnx"]["reason"]
    np.testing.assert_allclose(load_bundle(bundle.path).predict_frame(frame), model.predict(frame))


def test_compare_is_relative_above_one_and_absolute_below() -> None:
    source = {"prediction": np.array([1000.0, 0.001, np.nan])}
    close = {"prediction": np.array([1000.05, 0.00104, np.nan])}
    check = compare(source, close, tolerance=1e-4)
    assert check.passed
    assert check.max_abs_error == pytest.approx(0.05)
    assert check.max_rel_error == pytest.approx(5e-5)
    far = compare(source, {"prediction": np.array([1000.0, 0.01, np.nan])}, tolerance=1e-4)
    assert not far.passed


def test_compare_counts_disagreeing_labels_and_nan_against_number() -> None:
    labels = compare({"label": np.array(["a", "b"])}, {"label": np.array(["a", "c"])}, tolerance=1)
    assert labels.labels_mismatched == 1 and not labels.passed
    nan = compare({"prediction": np.array([1.0])}, {"prediction": np.array([np.nan])}, tolerance=1)
    assert not nan.passed


# --- bare estimators: one [N, features] matrix input -----------------------------------


@pytest.mark.parametrize(
    ("model", "rtol"),
    [
        (HistGradientBoostingRegressor(max_iter=60, random_state=0), 1e-6),
        (Ridge(), 1e-9),
    ],
    ids=["hgb", "ridge"],
)
def test_a_bare_multi_column_estimator_serves_as_onnx_on_one_matrix(
    housing, tmp_path, model, rtol
) -> None:
    frame, price = housing
    numeric = frame[NUMERIC]
    model = clone(model).fit(numeric, price)
    bundle = build_bundle(
        model, tmp_path / "b", name="housing", input_example=numeric.head(5), eval_frame=numeric
    )

    manifest = bundle.manifest
    assert manifest.flavor == "onnx"
    form = manifest.forms["onnx"]
    assert form.converted_from == "sklearn" and form.options["inputs"] == "matrix"
    assert form.options["float_type"] == "double"
    equivalence = form.options["equivalence"]
    assert equivalence["passed"] and equivalence["rows"] == len(numeric)
    assert equivalence["max_rel_error"] <= rtol
    graph = session((bundle.path / "model" / "model.onnx").read_bytes())
    [matrix] = graph.get_inputs()
    assert matrix.shape[1] == len(NUMERIC) and matrix.type == "tensor(double)"

    native, onnx = _both_forms(bundle.path, numeric)
    np.testing.assert_allclose(onnx["prediction"], native["prediction"], rtol=rtol)
    np.testing.assert_allclose(onnx["prediction"], model.predict(numeric), rtol=rtol)


def test_a_bare_classifier_serves_labels_and_probabilities_from_one_matrix(
    housing, price_band, tmp_path
) -> None:
    frame, _ = housing
    numeric = frame[NUMERIC]
    model = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(numeric, price_band)
    bundle = build_bundle(
        model, tmp_path / "b", name="band", input_example=numeric.head(5), eval_frame=numeric
    )
    assert bundle.manifest.flavor == "onnx"
    assert bundle.manifest.forms["onnx"].options["inputs"] == "matrix"
    _onnx_matches_classifier(bundle.path, model, numeric, atol=1e-6)


def test_integer_columns_go_into_the_matrix_as_doubles(housing, tmp_path) -> None:
    frame, price = housing
    numeric = frame[NUMERIC].assign(age=frame["age"].round().astype(np.int64))
    model = HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(numeric, price)
    bundle = build_bundle(
        model, tmp_path / "b", name="housing", input_example=numeric.head(5), eval_frame=numeric
    )
    assert bundle.signature.inputs[1].datatype == "INT64"
    assert bundle.manifest.forms["onnx"].options["inputs"] == "matrix"
    _, onnx = _both_forms(bundle.path, numeric)
    np.testing.assert_allclose(onnx["prediction"], model.predict(numeric), rtol=1e-6)


def test_a_signature_ordering_columns_unlike_the_model_gets_no_matrix(housing) -> None:
    # the flavor stacks the matrix in signature order; the model reads its fitted order
    frame, price = housing
    numeric = frame[NUMERIC]
    model = Ridge().fit(numeric, price)
    fitted = infer_signature(model, numeric)
    reordered = dataclasses.replace(fitted, inputs=tuple(reversed(fitted.inputs)))
    with pytest.raises(ConversionError, match="signature orders them"):
        to_onnx(model, reordered)
    assert to_onnx(model, fitted).layout == "matrix"
