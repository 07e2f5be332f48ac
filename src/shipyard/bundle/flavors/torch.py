"""PyTorch modules: TorchScript, or a state dict loaded weights-only into a named class.

Two formats, chosen by ``flavor_options["format"]``:

- ``torchscript`` (default; the model scripted if it is not already): one
  self-contained file, no Python class needed to load it.
- ``state_dict``: the module's tensors, loaded with ``torch.load(weights_only=True)``,
  into ``module`` (``package.module:Class``) built with ``init_kwargs``. The class is
  imported only if its module is already imported or the loader trusts it, so a
  manifest cannot make a process import arbitrary code.

Inputs are the signature's columns stacked into one float matrix. A classifier's
output is read as logits (softmax applied) unless ``output`` is ``probabilities``.
"""

from __future__ import annotations

import importlib
import io
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.bundle.flavors.base import (
    MODEL_DIR,
    Flavor,
    LoadedModel,
    UntrustedCodeError,
    class_array,
    classified,
    import_path,
    matrix,
    trusted_module,
)
from shipyard.bundle.manifest import Bundle, Manifest, ModelForm
from shipyard.bundle.signature import Signature
from shipyard.errors import BundleError

SCRIPT_FILE = f"{MODEL_DIR}/model.torchscript.pt"
STATE_FILE = f"{MODEL_DIR}/state_dict.pt"


class TorchFlavor(Flavor):
    name = "torch"
    packages = ("torch",)
    distributions = ("torch",)

    def save(
        self, model: Any, root: Path, signature: Signature, options: Mapping[str, Any]
    ) -> ModelForm:
        import torch

        fmt = options.get("format", "torchscript")
        (root / MODEL_DIR).mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        if fmt == "torchscript":
            scripted = model if isinstance(model, torch.jit.ScriptModule) else _script(model)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                torch.jit.save(scripted, buffer)
            (root / SCRIPT_FILE).write_bytes(buffer.getvalue())
            return ModelForm(files=(SCRIPT_FILE,), options={**options, "format": fmt})
        if fmt == "state_dict":
            module = import_path(type(model))
            torch.save(model.state_dict(), buffer)
            (root / STATE_FILE).write_bytes(buffer.getvalue())
            return ModelForm(
                files=(STATE_FILE,),
                options={
                    **options,
                    "format": fmt,
                    "module": module,
                    "init_kwargs": dict(options.get("init_kwargs", {})),
                },
            )
        raise BundleError(f"unknown torch format {fmt!r}", hint="use 'torchscript' or 'state_dict'")

    def load(self, bundle: Bundle, *, trust: Sequence[str] = ()) -> LoadedModel:
        import torch

        form = bundle.manifest.forms[self.name]
        data = io.BytesIO(bundle.read_bytes(form.files[0]))
        if form.options.get("format") == "state_dict":
            module = _module(form.options, trust)
            try:
                state = torch.load(data, weights_only=True, map_location="cpu")
                module.load_state_dict(state, strict=True)
            except Exception as exc:  # UnpicklingError for anything but plain tensors
                raise BundleError(
                    f"{form.files[0]} is not a weights-only state dict for "
                    f"{form.options['module']}: {type(exc).__name__}: {exc}",
                    hint="rebuild the bundle from the trained module",
                ) from None
        else:
            with warnings.catch_warnings():
                # torch 2.13 deprecates TorchScript for torch.export; it still works
                warnings.simplefilter("ignore", DeprecationWarning)
                module = torch.jit.load(data, map_location="cpu")
        module.eval()
        return TorchModel(module, bundle.manifest)


def _script(model: Any) -> Any:
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.script(model)
    except Exception as exc:
        raise BundleError(
            f"TorchScript cannot compile {type(model).__name__}: {exc}",
            hint="pass flavor_options={'format': 'state_dict', 'init_kwargs': {...}}",
        ) from None


def _module(options: Mapping[str, Any], trust: Sequence[str]) -> Any:
    import torch

    path = str(options.get("module", ""))
    module_name, _, qualname = path.partition(":")
    if not module_name or not qualname:
        raise BundleError(f"torch state dict names no module class ({path!r})")
    if not trusted_module(module_name, trust):
        raise UntrustedCodeError(
            path,
            [module_name],
            hint=f"import {module_name} first, or pass trust=['{module_name}'] to the loader",
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise BundleError(
            f"cannot import {module_name} for the torch state dict: {exc}",
            hint="install the package that defines the model class",
        ) from None
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if not (isinstance(obj, type) and issubclass(obj, torch.nn.Module)):
        raise BundleError(f"{path} is not a torch.nn.Module class")
    return obj(**options.get("init_kwargs", {}))


class TorchModel(LoadedModel):
    def __init__(self, module: Any, manifest: Manifest) -> None:
        import torch

        super().__init__(manifest, TorchFlavor.name)
        self.module = module
        first = next(iter(module.parameters()), None)
        self._dtype = first.dtype if first is not None else torch.float32
        self._torch = torch
        if self.signature.task == "classification":
            self._classes = class_array(self.signature)
            self._logits = self.form.options.get("output", "logits") == "logits"

    def predict(self, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        x = torch.from_numpy(matrix(columns, self.input_names, np.float64)).to(self._dtype)
        with torch.inference_mode():
            y = self.module(x)
            if self.signature.task == "classification" and self._logits:
                y = torch.softmax(y, dim=-1)
        out = y.numpy()
        if self.signature.task == "classification":
            return classified(out, self._classes)
        if out.ndim == 2 and out.shape[1] == 1:
            out = out.reshape(-1)
        return {self.signature.outputs[0].name: out.astype(np.float64)}
