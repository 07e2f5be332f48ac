"""Loading verifies before it reads, and never runs code a bundle smuggles in.

The pickle tests use a payload that writes a marker file when unpickled. Each attack
is tried with the manifest left alone (the hash check refuses it) and with the
manifest rewritten to vouch for the payload (an attacker who controls the whole
bundle): the marker must never appear.
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from shipyard.bundle import (
    Bundle,
    InputError,
    UnlistedFileError,
    UntrustedCodeError,
    build_bundle,
    load_bundle,
    pack,
)
from shipyard.bundle.manifest import hash_tree
from shipyard.errors import BundleError, IntegrityError


class WritesMarker:
    """Unpickling this touches ``path``: a stand-in for arbitrary code execution."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.path),))


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "pwned"


@pytest.fixture
def payload(marker: Path) -> bytes:
    data = pickle.dumps(WritesMarker(marker))
    pickle.loads(data)  # the payload is live: plain unpickling does write the marker
    assert marker.exists()
    marker.unlink()
    return data


@pytest.fixture(scope="module")
def sklearn_bundle(tmp_path_factory, ridge_pipeline, housing) -> Bundle:
    frame, _ = housing
    return build_bundle(
        ridge_pipeline,
        tmp_path_factory.mktemp("load") / "b",
        name="housing",
        input_example=frame.head(5),
        eval_frame=frame,
    )


@pytest.fixture
def bundle_dir(sklearn_bundle: Bundle, tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(sklearn_bundle.path, copy)
    return copy


def vouch_for_everything(bundle_dir: Path) -> None:
    """What an attacker holding the whole bundle does: rehash the manifest to match."""
    path = bundle_dir / "manifest.json"
    data = json.loads(path.read_text())
    data["files"] = {k: v.model_dump() for k, v in hash_tree(bundle_dir).items()}
    path.write_text(json.dumps(data))


def test_prefer_chooses_between_the_onnx_and_native_forms(sklearn_bundle: Bundle, housing) -> None:
    frame, _ = housing
    fast = load_bundle(sklearn_bundle.path)
    native = load_bundle(sklearn_bundle.path, prefer="native")
    assert (fast.flavor, native.flavor) == ("onnx", "sklearn")
    np.testing.assert_allclose(fast.predict_frame(frame), native.predict_frame(frame), rtol=1e-9)


def test_predict_takes_columns_of_other_numeric_types(sklearn_bundle: Bundle) -> None:
    model = load_bundle(sklearn_bundle.path)
    columns = {
        "rooms": [5, 6],
        "age": np.array([10, 20], dtype=np.int32),
        "income": np.array([20.0, 30.0], dtype=np.float32),
        "region": ["north", "west"],
    }
    assert model.predict(columns)["prediction"].shape == (2,)


def test_missing_or_ragged_columns_are_input_errors(sklearn_bundle: Bundle, housing) -> None:
    frame, _ = housing
    model = load_bundle(sklearn_bundle.path)
    with pytest.raises(InputError, match="region"):
        model.predict_frame(frame.drop(columns="region"))
    ragged = {c: frame[c].to_numpy()[:3] for c in frame.columns} | {"rooms": np.ones(2)}
    with pytest.raises(InputError, match="different lengths"):
        model.predict(ragged)


def test_unknown_preference_and_missing_path_are_refused(sklearn_bundle: Bundle, tmp_path) -> None:
    with pytest.raises(BundleError, match="preference"):
        load_bundle(sklearn_bundle.path, prefer="fastest")  # type: ignore[arg-type]
    with pytest.raises(BundleError, match="no bundle"):
        load_bundle(tmp_path / "nothing")


def test_a_pickle_in_place_of_the_skops_file_is_refused_by_hash(
    bundle_dir, payload, marker
) -> None:
    (bundle_dir / "model" / "model.skops").write_bytes(payload)
    with pytest.raises(IntegrityError):
        load_bundle(bundle_dir, prefer="native")
    assert not marker.exists()


def test_a_vouched_for_pickle_is_still_never_unpickled(bundle_dir, payload, marker) -> None:
    (bundle_dir / "model" / "model.skops").write_bytes(payload)
    vouch_for_everything(bundle_dir)
    with pytest.raises(BundleError, match="not a readable skops file"):
        load_bundle(bundle_dir, prefer="native")
    assert not marker.exists()


def test_a_pickle_beside_the_model_is_refused(bundle_dir, payload, marker) -> None:
    (bundle_dir / "model" / "model.pkl").write_bytes(payload)
    with pytest.raises(UnlistedFileError):
        load_bundle(bundle_dir)
    assert not marker.exists()


def test_a_manifest_naming_a_pickle_flavor_is_refused(bundle_dir, payload, marker) -> None:
    (bundle_dir / "model" / "model.pkl").write_bytes(payload)
    vouch_for_everything(bundle_dir)
    path = bundle_dir / "manifest.json"
    data = json.loads(path.read_text())
    data["forms"] = {"pickle": {"files": ["model/model.pkl"]}}
    data["flavor"] = "pickle"
    for name in ("model/model.skops", "model/model.onnx"):
        data["files"].pop(name)
        (bundle_dir / name).unlink()
    path.write_text(json.dumps(data))
    with pytest.raises(BundleError, match="unknown flavor 'pickle'"):
        load_bundle(bundle_dir)
    assert not marker.exists()


def test_an_archive_carrying_a_pickle_is_refused(bundle_dir, payload, marker, tmp_path) -> None:
    archive = pack(bundle_dir, tmp_path / "b.tar.gz")
    (bundle_dir / "model" / "model.skops").write_bytes(payload)
    os.remove(archive)
    import tarfile

    with tarfile.open(archive, "w:gz") as tar:  # hand-made: pack would refuse it
        tar.add(bundle_dir, arcname=".")
    with pytest.raises(IntegrityError):
        load_bundle(archive, prefer="native")
    assert not marker.exists()


def test_skops_types_outside_the_allowlist_are_refused(bundle_dir) -> None:
    # a model whose predict would run a shell command
    model = Pipeline([("f", FunctionTransformer(func=os.system)), ("m", Ridge())])
    (bundle_dir / "model" / "model.skops").write_bytes(skops.io.dumps(model))
    vouch_for_everything(bundle_dir)
    with pytest.raises(UntrustedCodeError, match=r"posix\.system"):
        load_bundle(bundle_dir, prefer="native")


torch = pytest.importorskip("torch")


class Linear(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(3, 1)

    def forward(self, x):
        return self.layer(x)


@pytest.fixture
def torch_bundle(housing, tmp_path) -> Path:
    frame, _ = housing
    numeric = frame[["rooms", "age", "income"]]
    bundle = build_bundle(
        Linear(),
        tmp_path / "torch",
        name="t",
        input_example=numeric.head(3),
        flavor_options={"format": "state_dict"},
    )
    return bundle.path


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_pickle_as_torch_state_dict_is_refused_weights_only(
    torch_bundle, payload, marker
) -> None:
    (torch_bundle / "model" / "state_dict.pt").write_bytes(payload)
    with pytest.raises(IntegrityError):
        load_bundle(torch_bundle)
    vouch_for_everything(torch_bundle)
    with pytest.raises(BundleError, match="weights-only"):
        load_bundle(torch_bundle)
    assert not marker.exists()


def test_a_torch_zip_with_a_pickle_inside_is_refused(torch_bundle, marker) -> None:
    buffer = io.BytesIO()
    torch.save({"layer.weight": WritesMarker(marker)}, buffer)  # torch's zip, pickle inside
    (torch_bundle / "model" / "state_dict.pt").write_bytes(buffer.getvalue())
    vouch_for_everything(torch_bundle)
    with pytest.raises(BundleError, match="weights-only"):
        load_bundle(torch_bundle)
    assert not marker.exists()


def test_a_state_dict_class_is_imported_only_when_trusted(torch_bundle) -> None:
    path = torch_bundle / "manifest.json"
    data = json.loads(path.read_text())
    data["forms"]["torch"]["options"]["module"] = "antigravity:Fly"
    path.write_text(json.dumps(data))
    with pytest.raises(UntrustedCodeError, match="antigravity"):
        load_bundle(torch_bundle)
    assert "antigravity" not in __import__("sys").modules
