"""The one contract every flavor passes: build -> pack -> unpack -> load -> same predictions.

Each case gives a fitted model, the rows to predict and the model's own predictions on
them; the contract then checks the round trip, the signature, and that a changed or
missing file is refused before anything is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.bundle import Bundle, build_bundle, load_bundle, pack, unpack
from shipyard.errors import IntegrityError

from .conftest import NUMERIC

torch = pytest.importorskip("torch")


class TinyRegressor(torch.nn.Module):
    """A module with constructor arguments, to load from a state dict by import path."""

    def __init__(self, n_features: int, hidden: int) -> None:
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(n_features, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


@dataclass
class Case:
    model: Any
    frame: pd.DataFrame
    expected: dict[str, np.ndarray]  # the model's own outputs on ``frame``
    flavor: str  # the flavor that serves after loading
    options: dict[str, Any] = field(default_factory=dict)  # for build_bundle
    rtol: float = 1e-9


def _classifier_outputs(model: Any, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {"label": model.predict(frame), "probabilities": model.predict_proba(frame)}


def sklearn_regressor(request: pytest.FixtureRequest) -> Case:
    model = request.getfixturevalue("ridge_pipeline")
    frame = request.getfixturevalue("housing")[0].head(300)
    return Case(
        model, frame, {"prediction": model.predict(frame)}, "sklearn", {"convert_onnx": False}
    )


def sklearn_classifier(request: pytest.FixtureRequest) -> Case:
    model = request.getfixturevalue("logistic_pipeline")
    frame = request.getfixturevalue("housing")[0].head(300)
    return Case(model, frame, _classifier_outputs(model, frame), "sklearn", {"convert_onnx": False})


def sklearn_as_onnx(request: pytest.FixtureRequest) -> Case:
    model = request.getfixturevalue("hgb_pipeline")
    frame = request.getfixturevalue("housing")[0]
    # trees score in float32 inside onnxruntime: equal to 1e-6 of the value, not bit for bit
    return Case(
        model, frame, {"prediction": model.predict(frame)}, "onnx", {"eval_frame": frame}, rtol=1e-6
    )


def onnx_graph(request: pytest.FixtureRequest) -> Case:
    import onnxruntime as ort
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    pipeline = request.getfixturevalue("ridge_pipeline")
    frame = request.getfixturevalue("housing")[0].head(300)
    initial = [(c, FloatTensorType([None, 1])) for c in NUMERIC]
    graph = convert_sklearn(
        pipeline, initial_types=[*initial, ("region", StringTensorType([None, 1]))]
    )
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {c: frame[[c]].to_numpy(np.float32) for c in NUMERIC}
    feeds["region"] = frame[["region"]].to_numpy(object)
    expected = session.run(None, feeds)[0].ravel()
    return Case(graph, frame, {"prediction": expected}, "onnx", rtol=1e-6)


def _torch_case(request: pytest.FixtureRequest, options: dict[str, Any]) -> Case:
    frame, _ = request.getfixturevalue("housing")
    frame = frame[NUMERIC].head(300)
    torch.manual_seed(0)
    module = TinyRegressor(n_features=3, hidden=8).eval()
    with torch.no_grad():
        expected = module(torch.tensor(frame.to_numpy(), dtype=torch.float32)).numpy().ravel()
    return Case(
        module, frame, {"prediction": expected}, "torch", {"flavor_options": options}, rtol=1e-6
    )


def torchscript(request: pytest.FixtureRequest) -> Case:
    return _torch_case(request, {"format": "torchscript"})


def torch_state_dict(request: pytest.FixtureRequest) -> Case:
    return _torch_case(
        request, {"format": "state_dict", "init_kwargs": {"n_features": 3, "hidden": 8}}
    )


def _boosting_case(request: pytest.FixtureRequest, make: Callable[[], Any], classify: bool) -> Case:
    frame, price = request.getfixturevalue("housing")
    target = request.getfixturevalue("price_band") if classify else price
    frame = frame[NUMERIC]
    model = make().fit(frame, target)
    rows = frame.head(300)
    expected = _classifier_outputs(model, rows) if classify else {"prediction": model.predict(rows)}
    return Case(model, rows, expected, type(model).__module__.split(".")[0], rtol=1e-6)


def lightgbm_regressor(request: pytest.FixtureRequest) -> Case:
    lightgbm = pytest.importorskip("lightgbm")
    return _boosting_case(
        request, lambda: lightgbm.LGBMRegressor(n_estimators=30, verbose=-1), False
    )


def lightgbm_classifier(request: pytest.FixtureRequest) -> Case:
    lightgbm = pytest.importorskip("lightgbm")
    return _boosting_case(
        request, lambda: lightgbm.LGBMClassifier(n_estimators=30, verbose=-1), True
    )


def xgboost_regressor(request: pytest.FixtureRequest) -> Case:
    xgboost = pytest.importorskip("xgboost")
    return _boosting_case(request, lambda: xgboost.XGBRegressor(n_estimators=30), False)


def xgboost_classifier(request: pytest.FixtureRequest) -> Case:
    xgboost = pytest.importorskip("xgboost")
    price_band = request.getfixturevalue("price_band")
    codes = {"cheap": 0, "mid": 1, "dear": 2}
    frame, _ = request.getfixturevalue("housing")
    model = xgboost.XGBClassifier(n_estimators=30).fit(frame[NUMERIC], price_band.map(codes))
    rows = frame[NUMERIC].head(300)
    return Case(model, rows, _classifier_outputs(model, rows), "xgboost", rtol=1e-6)


CASES = [
    sklearn_regressor,
    sklearn_classifier,
    sklearn_as_onnx,
    onnx_graph,
    torchscript,
    torch_state_dict,
    lightgbm_regressor,
    lightgbm_classifier,
    xgboost_regressor,
    xgboost_classifier,
]


@pytest.fixture(params=CASES, ids=[c.__name__ for c in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    return request.param(request)


@pytest.fixture
def built(case: Case, tmp_path: Path) -> Bundle:
    return build_bundle(
        case.model,
        tmp_path / "bundle",
        name="housing",
        input_example=case.frame.head(5),
        run_id="run-1",
        **case.options,
    )


def assert_same_outputs(
    got: dict[str, np.ndarray], expected: dict[str, np.ndarray], rtol: float
) -> None:
    assert set(got) == set(expected)
    for name, want in expected.items():
        if name == "label":
            np.testing.assert_array_equal(
                np.asarray(got[name]).astype(str), np.asarray(want).astype(str)
            )
        else:
            np.testing.assert_allclose(got[name], want, rtol=rtol, atol=1e-9 if rtol > 1e-9 else 0)


def test_round_trip_through_archive_predicts_like_the_model(
    case: Case, built: Bundle, tmp_path: Path
) -> None:
    archive = pack(built.path, tmp_path / "housing.tar.gz")
    opened = Bundle.open(unpack(archive, tmp_path / "unpacked"))
    assert opened.digest == built.digest

    for source in (archive, opened.path):
        model = load_bundle(source)
        assert model.flavor == case.flavor
        columns = {name: case.frame[name].to_numpy() for name in model.signature.input_names}
        assert_same_outputs(model.predict(columns), case.expected, case.rtol)


def test_signature_names_the_columns_and_the_task_outputs(case: Case, built: Bundle) -> None:
    signature = load_bundle(built.path).signature
    assert signature == built.manifest.signature
    assert sorted(signature.input_names) == sorted(case.frame.columns)
    assert [t.name for t in signature.outputs] == list(case.expected)
    if "probabilities" in case.expected:
        assert signature.task == "classification"
        assert len(signature.classes) == case.expected["probabilities"].shape[1]


def test_manifest_records_run_flavor_and_every_file(case: Case, built: Bundle) -> None:
    manifest = built.manifest
    assert manifest.run_id == "run-1"
    assert manifest.flavor == case.flavor
    listed = {p.relative_to(built.path).as_posix() for p in built.path.rglob("*") if p.is_file()}
    assert listed == set(manifest.files) | {"manifest.json"}


def test_one_changed_byte_in_a_model_file_is_refused(case: Case, built: Bundle) -> None:
    for name in built.manifest.forms[built.manifest.flavor].files:
        path = built.path / name
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        with pytest.raises(IntegrityError) as error:
            load_bundle(built.path)
        assert error.value.path == name


def test_a_missing_model_file_is_refused(case: Case, built: Bundle) -> None:
    name = built.manifest.forms[built.manifest.flavor].files[0]
    (built.path / name).unlink()
    with pytest.raises(IntegrityError) as error:
        load_bundle(built.path)
    assert error.value.path == name
    assert error.value.actual is None
