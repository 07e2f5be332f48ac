"""What a model takes and gives: named, typed tensors, one per input feature column.

Shared by the bundle (written into its ``manifest.json``), the server (validation at the
door, Open Inference Protocol metadata) and monitoring (which features to watch).
Datatypes are the Open Inference Protocol's names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

DATATYPES: dict[str, str] = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "object",
}


def datatype_of(dtype: np.dtype[Any]) -> str:
    """The Open Inference Protocol datatype for a numpy dtype (strings are BYTES)."""
    if dtype.kind in ("U", "S", "O"):
        return "BYTES"
    for name, np_name in DATATYPES.items():
        if np_name == dtype.name:
            return name
    raise ValueError(f"numpy dtype {dtype} has no Open Inference Protocol datatype")


@dataclass(frozen=True)
class TensorSpec:
    """One named tensor. ``shape`` uses -1 for a variable dimension (the batch)."""

    name: str
    datatype: str
    shape: tuple[int, ...] = (-1,)
    # For inputs: allowed categories (BYTES) or inclusive numeric range; None = any.
    categories: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "datatype": self.datatype,
            "shape": list(self.shape),
        }
        for key in ("categories", "minimum", "maximum"):
            value = getattr(self, key)
            if value is not None:
                out[key] = list(value) if key == "categories" else value
        if self.nullable:
            out["nullable"] = True
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TensorSpec:
        cats = data.get("categories")
        return cls(
            name=str(data["name"]),
            datatype=str(data["datatype"]),
            shape=tuple(int(d) for d in data.get("shape", (-1,))),
            categories=tuple(str(c) for c in cats) if cats is not None else None,
            minimum=data.get("minimum"),
            maximum=data.get("maximum"),
            nullable=bool(data.get("nullable", False)),
        )


@dataclass(frozen=True)
class Signature:
    """A model's inputs (one per feature column, in order) and outputs."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    task: str = "regression"  # regression | classification
    classes: tuple[str, ...] = field(default=())

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "task": self.task,
            "classes": list(self.classes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        return cls(
            inputs=tuple(TensorSpec.from_dict(t) for t in data["inputs"]),
            outputs=tuple(TensorSpec.from_dict(t) for t in data["outputs"]),
            task=str(data.get("task", "regression")),
            classes=tuple(str(c) for c in data.get("classes", ())),
        )


@runtime_checkable
class Predictor(Protocol):
    """A loaded model, ready to predict. Every flavor's loader returns one.

    ``predict`` takes one 1-D array per input feature (all of one length, the batch)
    and returns one array per output, first dimension the batch.
    """

    signature: Signature

    def predict(self, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def infer_inputs(frame: Any) -> tuple[TensorSpec, ...]:
    """One input spec per column of a pandas DataFrame, in column order.

    Strings and categoricals are BYTES (a categorical lists its categories); pandas'
    nullable integer and boolean dtypes map to their numpy types; a column holding a
    missing value is ``nullable``.
    """
    specs = []
    for name in frame.columns:
        column = frame[name]
        dtype = getattr(column.dtype, "numpy_dtype", column.dtype)
        try:
            datatype = datatype_of(np.dtype(dtype) if dtype.kind != "O" else np.dtype(object))
        except (TypeError, ValueError):
            raise ValueError(
                f"column {name!r} has dtype {column.dtype}, which no model input takes; "
                "convert it to a number or a string first"
            ) from None
        categories = None
        if str(column.dtype) == "category":
            categories = tuple(str(c) for c in column.cat.categories)
        specs.append(
            TensorSpec(
                name=str(name),
                datatype=datatype,
                categories=categories,
                nullable=bool(column.isna().any()),
            )
        )
    return tuple(specs)
