"""Import of an MLflow model directory (``MLmodel``) into a bundle, for users moving over.

Reads the ``sklearn`` flavor (skops, or pickle/cloudpickle only when the caller passes
``trust_pickle=True``) or the ``onnx`` flavor, takes the signature's columns and the
input example when MLflow recorded them, and builds an ordinary bundle: a pickled
model is re-saved with skops, so the bundle itself never holds a pickle. The
``skops_trusted_types`` an MLmodel lists are not trusted on its say; pass ``trust``.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from shipyard.bundle.build import build_bundle, infer_signature
from shipyard.bundle.flavors.sklearn import loads_skops
from shipyard.bundle.manifest import Bundle
from shipyard.bundle.signature import Signature, TensorSpec
from shipyard.errors import BundleError, PathEscapeError
from shipyard.store.artifacts import safe_join

# MLflow column types -> Open Inference Protocol datatypes
_COLUMN_TYPES = {
    "double": "FP64",
    "float": "FP32",
    "long": "INT64",
    "integer": "INT32",
    "boolean": "BOOL",
    "string": "BYTES",
    "binary": "BYTES",
}


class PickleRefusedError(BundleError, PermissionError):
    """An MLflow model is stored as a pickle and the caller did not trust pickles."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(
            f"{path} is a pickle; loading it would run whatever code it contains",
            hint="re-log the model with serialization_format='skops', or, if you made "
            "this file yourself, pass trust_pickle=True",
        )


class _MLmodel(BaseModel):
    """The parts of an ``MLmodel`` file the import reads."""

    model_config = ConfigDict(extra="ignore")

    flavors: dict[str, dict[str, Any]]
    run_id: str | None = None
    mlflow_version: str | None = None
    signature: dict[str, Any] | None = None
    saved_input_example_info: dict[str, Any] | None = None


def import_mlflow_model(
    mlflow_dir: str | Path,
    out_dir: str | Path,
    *,
    name: str,
    trust_pickle: bool = False,
    trust: Sequence[str] = (),
    input_example: Any | None = None,
    task: str | None = None,
    **build_options: Any,
) -> Bundle:
    """Build a bundle from an MLflow model directory.

    Args:
        mlflow_dir: the directory holding ``MLmodel``.
        trust_pickle: allow a pickled scikit-learn model to be unpickled. Only for
            files you made: unpickling runs code.
        trust: extra skops type names to trust (see ``load_bundle``).
        input_example: a DataFrame, when MLflow saved none.
        task: ``regression`` or ``classification`` when it cannot be inferred.
        build_options: passed to ``build_bundle`` (``eval_frame``, ``profile``, ...).

    Raises:
        PickleRefusedError: the model is a pickle and ``trust_pickle`` is False.
        BundleError: no supported flavor, or no input example.
    """
    root = Path(mlflow_dir)
    mlmodel = _read_mlmodel(root)
    model = _read_model(root, mlmodel, trust_pickle=trust_pickle, trust=trust)
    example = input_example if input_example is not None else _read_example(root, mlmodel)
    signature = build_options.pop("signature", None) or _signature(mlmodel, example, task, model)
    metadata = {
        "imported_from": "mlflow",
        "mlflow_version": mlmodel.mlflow_version,
        **build_options.pop("metadata", {}),
    }
    return build_bundle(
        model,
        out_dir,
        name=name,
        input_example=example,
        signature=signature,
        task=task,
        run_id=build_options.pop("run_id", None) or mlmodel.run_id,
        metadata=metadata,
        trust=trust,
        **build_options,
    )


def _read(root: Path, name: Any) -> bytes:
    """A file the MLmodel names, which must lie inside the model directory."""
    try:
        return safe_join(root, str(name)).read_bytes()
    except PathEscapeError:
        raise BundleError(
            f"{root / 'MLmodel'} names {name!r}, outside the model directory",
            hint="an MLmodel may name only files inside its own directory",
        ) from None
    except OSError as exc:
        raise BundleError(f"cannot read {name!r} named by {root / 'MLmodel'}: {exc}") from None


def _read_mlmodel(root: Path) -> _MLmodel:
    path = root / "MLmodel"
    if not path.is_file():
        raise BundleError(f"{root} has no MLmodel file", hint="pass an MLflow model directory")
    try:
        return _MLmodel.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as exc:
        raise BundleError(f"{path} is not a valid MLmodel file: {exc}") from None


def _read_model(root: Path, mlmodel: _MLmodel, *, trust_pickle: bool, trust: Sequence[str]) -> Any:
    flavors = mlmodel.flavors
    if "sklearn" in flavors:
        config = flavors["sklearn"]
        name = config.get("pickled_model", "model.pkl")
        fmt = str(config.get("serialization_format", "cloudpickle"))
        if fmt == "skops":
            return loads_skops(_read(root, name), source=str(name), trust=trust)
        if fmt in ("pickle", "cloudpickle"):
            if not trust_pickle:
                raise PickleRefusedError(str(root / str(name)))
            return pickle.loads(_read(root, name))  # the caller vouched for this file
        raise BundleError(f"unknown sklearn serialization_format {fmt!r} in {root / 'MLmodel'}")
    if "onnx" in flavors:
        import onnx

        return onnx.load_model_from_string(_read(root, flavors["onnx"].get("data", "model.onnx")))
    raise BundleError(
        f"MLmodel flavors {sorted(flavors)} include none Shipyard imports",
        hint="import models saved with the sklearn or onnx flavor",
    )


def _read_example(root: Path, mlmodel: _MLmodel) -> Any:
    import pandas as pd

    info = mlmodel.saved_input_example_info or {}
    name = info.get("artifact_path")
    if not name:
        raise BundleError(
            f"{root} holds no input example", hint="pass input_example=<a few input rows>"
        )
    try:
        data = json.loads(_read(root, name))
    except ValueError as exc:
        raise BundleError(f"the input example {name!r} is not JSON: {exc}") from None
    if isinstance(data, Mapping) and "dataframe_split" in data:
        data = data["dataframe_split"]
    if isinstance(data, Mapping) and "columns" in data and "data" in data:
        return pd.DataFrame(data["data"], columns=data["columns"])
    if isinstance(data, Mapping):
        return pd.DataFrame(data)
    return pd.DataFrame.from_records(data)


def _signature(mlmodel: _MLmodel, example: Any, task: str | None, model: Any) -> Signature:
    """Inputs as MLflow recorded them (when as columns), outputs inferred from the model."""
    inferred = infer_signature(model, example, task=task)
    try:
        columns = json.loads((mlmodel.signature or {}).get("inputs") or "[]")
        inputs = tuple(
            TensorSpec(
                name=str(c["name"]),
                datatype=_COLUMN_TYPES[c["type"]],
                nullable=not c.get("required", True),
            )
            for c in columns
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        inputs = ()  # tensor-based or malformed: the input example's columns decide
    if not inputs:
        return inferred
    if sorted(t.name for t in inputs) != sorted(inferred.input_names):
        raise BundleError(
            f"the MLmodel signature names columns {[t.name for t in inputs]}, "
            f"the input example has {inferred.input_names}",
            hint="pass input_example= with the model's input columns",
        )
    return replace(inferred, inputs=inputs)
