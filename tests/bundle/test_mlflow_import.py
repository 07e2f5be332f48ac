"""Import of MLflow model directories, written here by hand as MLflow 3 writes them."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io
import yaml
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType

from shipyard.bundle import (
    PickleRefusedError,
    UntrustedCodeError,
    import_mlflow_model,
    load_bundle,
)
from shipyard.errors import BundleError

from .test_build import CLIP, Clip
from .test_load import WritesMarker

COLUMNS = ["rooms", "age", "income", "region"]


def write_mlflow_model(
    root: Path,
    flavor: dict,
    files: dict[str, bytes],
    example: pd.DataFrame | None = None,
    inputs: list[dict] | None = None,
) -> Path:
    root.mkdir(parents=True)
    for name, data in files.items():
        (root / name).write_bytes(data)
    mlmodel: dict = {
        "artifact_path": "model",
        "flavors": flavor,
        "mlflow_version": "3.16.1",
        "run_id": "627648c8e53549f0acf8ebeb6b27aba8",
    }
    if inputs is not None:
        mlmodel["signature"] = {
            "inputs": json.dumps(inputs),
            "outputs": '[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}]',
        }
    if example is not None:
        split = {"columns": list(example.columns), "data": example.to_numpy().tolist()}
        (root / "input_example.json").write_text(json.dumps(split))
        mlmodel["saved_input_example_info"] = {
            "artifact_path": "input_example.json",
            "pandas_orient": "split",
            "type": "dataframe",
        }
    (root / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    return root


def sklearn_flavor(file: str, fmt: str, trusted: list[str] | None = None) -> dict:
    return {
        "python_function": {"loader_module": "mlflow.sklearn", "model_path": file},
        "sklearn": {
            "pickled_model": file,
            "serialization_format": fmt,
            "sklearn_version": "1.9.1",
            "skops_trusted_types": trusted,
        },
    }


SIGNATURE = [
    {"type": "double", "name": "rooms", "required": True},
    {"type": "double", "name": "age", "required": True},
    {"type": "double", "name": "income", "required": True},
    {"type": "string", "name": "region", "required": True},
]


def test_skops_sklearn_model_imports_and_serves_as_onnx(ridge_pipeline, housing, tmp_path) -> None:
    frame, _ = housing
    source = write_mlflow_model(
        tmp_path / "mlflow",
        sklearn_flavor("model.skops", "skops"),
        {"model.skops": skops.io.dumps(ridge_pipeline)},
        frame.head(3),
        SIGNATURE,
    )
    bundle = import_mlflow_model(source, tmp_path / "bundle", name="housing", eval_frame=frame)
    assert bundle.manifest.run_id == "627648c8e53549f0acf8ebeb6b27aba8"
    assert bundle.manifest.metadata["imported_from"] == "mlflow"
    assert bundle.signature.input_names == COLUMNS
    assert bundle.manifest.flavor == "onnx"
    np.testing.assert_allclose(
        load_bundle(bundle.path).predict_frame(frame), ridge_pipeline.predict(frame), rtol=1e-9
    )


def test_pickled_model_is_refused_without_reading_it(housing, tmp_path) -> None:
    frame, _ = housing
    marker = tmp_path / "pwned"
    source = write_mlflow_model(
        tmp_path / "mlflow",
        sklearn_flavor("model.pkl", "cloudpickle"),
        {"model.pkl": pickle.dumps(WritesMarker(marker))},
        frame.head(3),
    )
    with pytest.raises(PickleRefusedError, match="trust_pickle=True"):
        import_mlflow_model(source, tmp_path / "bundle", name="housing")
    assert not marker.exists()
    assert not (tmp_path / "bundle").exists()


def test_trusted_pickle_is_resaved_with_skops(logistic_pipeline, housing, tmp_path) -> None:
    frame, _ = housing
    source = write_mlflow_model(
        tmp_path / "mlflow",
        sklearn_flavor("model.pkl", "pickle"),
        {"model.pkl": pickle.dumps(logistic_pipeline)},
        frame.head(3),
        SIGNATURE,
    )
    bundle = import_mlflow_model(source, tmp_path / "bundle", name="band", trust_pickle=True)
    assert not any(name.endswith(".pkl") for name in bundle.manifest.files)
    assert bundle.signature.task == "classification"
    native = load_bundle(bundle.path, prefer="native")
    np.testing.assert_array_equal(native.predict_frame(frame), logistic_pipeline.predict(frame))


def test_skops_types_an_mlmodel_lists_are_not_trusted_on_its_say(housing, tmp_path) -> None:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline

    frame, price = housing
    numeric = frame[["rooms", "age"]]
    model = Pipeline([("clip", Clip()), ("model", Ridge())]).fit(numeric, price)
    source = write_mlflow_model(
        tmp_path / "mlflow",
        sklearn_flavor("model.skops", "skops", trusted=[CLIP]),
        {"model.skops": skops.io.dumps(model)},
        numeric.head(3),
    )
    with pytest.raises(UntrustedCodeError, match=CLIP):
        import_mlflow_model(source, tmp_path / "refused", name="clip")
    bundle = import_mlflow_model(source, tmp_path / "bundle", name="clip", trust=[CLIP])
    assert bundle.manifest.flavor == "sklearn"  # skl2onnx knows no Clip


def test_onnx_model_imports_with_classes_read_from_the_graph(housing, price_band, tmp_path) -> None:
    from sklearn.linear_model import LogisticRegression

    frame, _ = housing
    numeric = frame[["rooms", "age", "income"]]
    model = LogisticRegression(max_iter=1_000).fit(numeric.to_numpy(np.float32), price_band)
    graph = convert_sklearn(
        model,
        initial_types=[("X", FloatTensorType([None, 3]))],
        options={id(model): {"zipmap": False}},
    )
    source = write_mlflow_model(
        tmp_path / "mlflow",
        {"onnx": {"data": "model.onnx", "onnx_version": "1.18.0"}},
        {"model.onnx": graph.SerializeToString()},
        numeric.head(3),
    )
    bundle = import_mlflow_model(source, tmp_path / "bundle", name="band")
    assert bundle.manifest.flavor == "onnx"
    assert bundle.signature.task == "classification"
    assert bundle.signature.classes == tuple(model.classes_)
    loaded = load_bundle(bundle.path)
    out = loaded.predict({c: numeric[c].to_numpy() for c in numeric.columns})
    np.testing.assert_array_equal(out["label"], model.predict(numeric.to_numpy(np.float32)))
    np.testing.assert_allclose(
        out["probabilities"], model.predict_proba(numeric.to_numpy(np.float32)), atol=1e-5
    )


@pytest.mark.parametrize(
    ("flavor", "message"),
    [
        ({"python_function": {"loader_module": "mlflow.pyfunc.model"}}, "include none"),
        (sklearn_flavor("../../etc/passwd", "skops"), "outside the model directory"),
        (sklearn_flavor("model.skops", "joblib"), "serialization_format"),
        (sklearn_flavor("absent.skops", "skops"), "cannot read"),
    ],
)
def test_unsupported_or_unsafe_mlmodels_are_refused(housing, tmp_path, flavor, message) -> None:
    frame, _ = housing
    source = write_mlflow_model(tmp_path / "mlflow", flavor, {}, frame.head(3))
    with pytest.raises(BundleError, match=message):
        import_mlflow_model(source, tmp_path / "bundle", name="x")


def test_a_model_without_input_example_needs_one(ridge_pipeline, housing, tmp_path) -> None:
    frame, _ = housing
    source = write_mlflow_model(
        tmp_path / "mlflow",
        sklearn_flavor("model.skops", "skops"),
        {"model.skops": skops.io.dumps(ridge_pipeline)},
    )
    with pytest.raises(BundleError, match="input_example"):
        import_mlflow_model(source, tmp_path / "bundle", name="housing")
    bundle = import_mlflow_model(
        source, tmp_path / "b2", name="housing", input_example=frame.head(3)
    )
    assert bundle.signature.input_names == COLUMNS
