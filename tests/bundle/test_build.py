"""build_bundle writes a complete, verified bundle or nothing at all."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline

from shipyard.bundle import (
    Bundle,
    UntrustedCodeError,
    build_bundle,
    infer_signature,
    load_bundle,
)
from shipyard.data import DataSchema
from shipyard.errors import BundleError, DataError


class Clip(TransformerMixin, BaseEstimator):
    """A user-written transformer: skops must not rebuild it unless trusted."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.clip(np.asarray(X, dtype=float), 0.0, 100.0)


CLIP = f"{Clip.__module__}.{Clip.__qualname__}"


def test_bundle_holds_every_document_listed_with_its_hash(
    ridge_pipeline, housing, tmp_path
) -> None:
    frame, _ = housing
    bundle = build_bundle(
        ridge_pipeline,
        tmp_path / "b",
        name="housing",
        input_example=frame.head(5),
        profile={"rooms": {"mean": np.float64(5.0), "missing": float("nan")}},
        data_schema=DataSchema.infer(frame).to_dict(),
        test_results={"passed": 3, "failed": 0},
        report_html="<h1>housing</h1>",
        run_id="run-42",
        metadata={"owner": "pricing"},
    )
    files = set(bundle.manifest.files)
    assert {
        "input_example.json",
        "profile.json",
        "data_schema.json",
        "test_results.json",
        "report.html",
    } <= files
    assert json.loads((bundle.path / "profile.json").read_text()) == {
        "rooms": {"mean": 5.0, "missing": None}
    }
    assert bundle.manifest.run_id == "run-42"
    assert bundle.manifest.metadata["owner"] == "pricing"
    assert bundle.read_bytes("report.html") == b"<h1>housing</h1>"
    pd.testing.assert_frame_equal(bundle.input_example(), frame.head(5), check_dtype=False)


def test_build_refuses_an_existing_bundle_and_leaves_no_staging(
    ridge_pipeline, housing, tmp_path
) -> None:
    frame, _ = housing
    out = tmp_path / "b"
    build_bundle(ridge_pipeline, out, name="housing", input_example=frame.head(5))
    before = Bundle.open(out).digest
    with pytest.raises(BundleError, match="already exists"):
        build_bundle(ridge_pipeline, out, name="housing", input_example=frame.head(5))
    assert Bundle.open(out).digest == before
    assert [p.name for p in tmp_path.iterdir()] == ["b"]


def test_signature_follows_the_fitted_column_order(ridge_pipeline, housing) -> None:
    frame, _ = housing
    shuffled = frame[["region", "income", "rooms", "age"]]
    signature = infer_signature(ridge_pipeline, shuffled)
    assert signature.input_names == ["rooms", "age", "income", "region"]
    assert [t.datatype for t in signature.inputs] == ["FP64", "FP64", "FP64", "BYTES"]
    assert [t.name for t in signature.outputs] == ["prediction"]


def test_signature_refuses_columns_the_model_was_not_fitted_on(ridge_pipeline, housing) -> None:
    frame, _ = housing
    with pytest.raises(BundleError, match="fitted on columns"):
        infer_signature(ridge_pipeline, frame.assign(id=1))


def test_classifier_signature_lists_classes_in_probability_order(
    logistic_pipeline, housing
) -> None:
    frame, _ = housing
    signature = infer_signature(logistic_pipeline, frame)
    assert signature.task == "classification"
    assert signature.classes == tuple(logistic_pipeline.classes_)
    label, probabilities = signature.outputs
    assert (label.name, label.datatype) == ("label", "BYTES")
    assert probabilities.shape == (-1, 3)


def test_a_column_no_model_input_takes_is_refused(housing) -> None:
    frame, price = housing
    dated = frame[["rooms"]].assign(when=pd.Timestamp("2024-01-01"))
    with pytest.raises(BundleError, match="when"):
        infer_signature(Ridge().fit(frame[["rooms"]], price), dated)


def test_untrusted_custom_type_fails_the_build_unless_trusted(housing, tmp_path) -> None:
    frame, price = housing
    numeric = frame[["rooms", "age"]]
    model = Pipeline([("clip", Clip()), ("model", Ridge())]).fit(numeric, price)
    with pytest.raises(UntrustedCodeError, match=CLIP):
        build_bundle(model, tmp_path / "refused", name="clip", input_example=numeric.head(3))
    assert not (tmp_path / "refused").exists()

    bundle = build_bundle(
        model, tmp_path / "b", name="clip", input_example=numeric.head(3), trust=[CLIP]
    )
    with pytest.raises(UntrustedCodeError):
        load_bundle(bundle.path, prefer="native")
    loaded = load_bundle(bundle.path, prefer="native", trust=[CLIP])
    np.testing.assert_allclose(loaded.predict_frame(numeric), model.predict(numeric))


def test_manifest_records_the_libraries_each_form_needs(hgb_pipeline, housing, tmp_path) -> None:
    frame, _ = housing
    bundle = build_bundle(hgb_pipeline, tmp_path / "b", name="housing", input_example=frame.head(5))
    assert {"python", "scikit-learn", "skops", "onnx", "onnxruntime", "skl2onnx"} <= set(
        bundle.manifest.environment
    )


def test_data_schema_rules_reach_the_signature(ridge_pipeline, housing, tmp_path) -> None:
    frame, _ = housing
    schema = DataSchema.infer(frame).to_dict()
    schema["columns"]["rooms"].update(minimum=1, maximum=12)
    bundle = build_bundle(
        ridge_pipeline,
        tmp_path / "b",
        name="housing",
        input_example=frame.head(5),
        data_schema=schema,
    )
    rooms = next(t for t in bundle.manifest.signature.inputs if t.name == "rooms")
    assert (rooms.minimum, rooms.maximum) == (1, 12)


def test_a_data_schema_that_is_not_one_is_refused(ridge_pipeline, housing, tmp_path) -> None:
    frame, _ = housing
    with pytest.raises(DataError, match="not a valid data schema"):
        build_bundle(
            ridge_pipeline,
            tmp_path / "b",
            name="housing",
            input_example=frame.head(5),
            data_schema={"columns": ["rooms"]},
        )
