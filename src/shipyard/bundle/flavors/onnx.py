"""ONNX graphs, run by onnxruntime: the fast serving path.

A graph takes either one input per signature column (shape [N, 1] or [N]; what
skl2onnx makes, so the server feeds request columns straight in) or a single
[N, features] matrix. The form's ``outputs`` option maps signature outputs to graph
outputs; outputs are cast to the signature's dtypes so every form answers alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.bundle.flavors.base import (
    MODEL_DIR,
    Flavor,
    InputError,
    LoadedModel,
    batch,
    class_array,
)
from shipyard.bundle.manifest import Bundle, Manifest, ModelForm
from shipyard.bundle.signature import DATATYPES, Signature
from shipyard.errors import BundleError

MODEL_FILE = f"{MODEL_DIR}/model.onnx"

_ORT_DTYPES = {
    "tensor(double)": np.float64,
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
    "tensor(string)": object,
}


class OnnxFlavor(Flavor):
    name = "onnx"
    packages = ("onnx",)
    distributions = ("onnx", "onnxruntime")

    def classes(self, model: Any) -> np.ndarray | None:
        """The class labels a classifier node in the graph declares, if any."""
        for node in model.graph.node:
            for attr in node.attribute:
                if attr.name in ("classlabels_int64s", "classlabels_ints") and attr.ints:
                    return np.asarray(list(attr.ints), dtype=np.int64)
                if attr.name == "classlabels_strings" and attr.strings:
                    return np.asarray([s.decode() for s in attr.strings], dtype=object)
        return None

    def save(
        self, model: Any, root: Path, signature: Signature, options: Mapping[str, Any]
    ) -> ModelForm:
        import onnx

        try:
            onnx.checker.check_model(model)
        except onnx.checker.ValidationError as exc:
            raise BundleError(f"the ONNX model is invalid: {exc}") from None
        graph_outputs = [o.name for o in model.graph.output]
        outputs = dict(options.get("outputs") or {})
        if not outputs:
            if len(graph_outputs) < len(signature.outputs):
                raise BundleError(
                    f"the ONNX graph has outputs {graph_outputs}, fewer than the "
                    f"signature's {[t.name for t in signature.outputs]}",
                    hint="pass flavor_options={'outputs': {signature name: graph name}}",
                )
            outputs = {t.name: g for t, g in zip(signature.outputs, graph_outputs, strict=False)}
        unknown = sorted(set(outputs.values()) - set(graph_outputs))
        if unknown:
            raise BundleError(f"graph outputs {unknown} do not exist; it has {graph_outputs}")
        path = root / MODEL_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(model.SerializeToString())
        return ModelForm(files=(MODEL_FILE,), options={**options, "outputs": outputs})

    def load(self, bundle: Bundle, *, trust: Sequence[str] = ()) -> LoadedModel:
        form = bundle.manifest.forms[self.name]
        return OnnxModel(bundle.read_bytes(form.files[0]), bundle.manifest)


def session(data: bytes) -> Any:
    """An onnxruntime session on one thread: requests scale by workers, not threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own non-exported classes
        raise BundleError(f"onnxruntime cannot load the ONNX model: {exc}") from None


class OnnxModel(LoadedModel):
    def __init__(self, data: bytes, manifest: Manifest) -> None:
        super().__init__(manifest, OnnxFlavor.name)
        self.session = session(data)
        inputs = self.session.get_inputs()
        names = self.signature.input_names
        if {i.name for i in inputs} == set(names):
            # one input per column: (name, dtype, rank) in the graph's order
            self._feeds = [(i.name, _ORT_DTYPES.get(i.type, object), len(i.shape)) for i in inputs]
            self._matrix: tuple[str, Any] | None = None
        elif len(inputs) == 1 and len(inputs[0].shape) == 2:
            self._feeds = []
            self._matrix = (inputs[0].name, _ORT_DTYPES.get(inputs[0].type, np.float32))
        else:
            raise BundleError(
                f"the ONNX graph's inputs {[i.name for i in inputs]} match neither the "
                f"signature's columns {names} nor a single [N, features] matrix"
            )
        mapping: dict[str, str] = self.form.options["outputs"]
        self._run_names = [mapping[t.name] for t in self.signature.outputs]
        # per output: its name, whether an [N, 1] result flattens to [N], its dtype
        self._outputs = [
            (t.name, len(t.shape) == 1, DATATYPES[t.datatype]) for t in self.signature.outputs
        ]
        self._classes = (
            class_array(self.signature) if self.signature.task == "classification" else None
        )

    def predict(self, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = batch(columns, self.input_names)
        feeds: dict[str, np.ndarray]
        if self._matrix is None:
            feeds = {
                name: np.asarray(columns[name], dtype=dtype).reshape((n, 1) if rank == 2 else n)
                for name, dtype, rank in self._feeds
            }
        else:
            name, dtype = self._matrix
            feeds = {name: _stack(columns, self.input_names, n, dtype)}
        try:
            results = self.session.run(self._run_names, feeds)
        except Exception as exc:  # the model loaded, so what fails here is the input
            raise InputError(f"onnxruntime refused the inputs: {exc}") from None
        out = {}
        for (name, flat, dtype), value in zip(self._outputs, results, strict=True):
            if isinstance(value, list):  # a ZipMap: one {class: probability} per row
                assert self._classes is not None
                value = np.asarray([[row[c] for c in self._classes] for row in value])
            if flat and value.ndim == 2 and value.shape[1] == 1:
                value = value.reshape(-1)
            out[name] = value if dtype == "object" else value.astype(dtype, copy=False)
        return out


def _stack(
    columns: Mapping[str, np.ndarray], names: Sequence[str], n: int, dtype: Any
) -> np.ndarray:
    """The columns as one C-ordered [n, features] matrix, in signature order."""
    stacked = np.empty((n, len(names)), dtype=dtype)
    try:
        # filled column by column: half the cost of column_stack on one-row requests
        for j, column in enumerate(names):
            stacked[:, j] = columns[column]
    except ValueError:  # [n, 1] columns, or values that are no numbers: numpy decides
        return np.column_stack([np.asarray(columns[c], dtype=dtype) for c in names])
    return stacked
