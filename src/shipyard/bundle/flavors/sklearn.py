"""scikit-learn models and pipelines, stored with skops (never pickle).

skops rebuilds only types it is told to trust. The list it is told is computed from
the file itself (``get_untrusted_types``) and every entry must pass ``ALLOWED``:
scikit-learn, numpy and scipy.sparse types, minus modules that read or write files,
plus whatever names the loading process trusts explicitly. A type that the manifest or
the file merely asks for is never trusted on that say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.bundle.flavors.base import (
    MODEL_DIR,
    Flavor,
    LoadedModel,
    UntrustedCodeError,
    batch,
)
from shipyard.bundle.manifest import Bundle, Manifest, ModelForm
from shipyard.bundle.signature import Signature
from shipyard.errors import BundleError

MODEL_FILE = f"{MODEL_DIR}/model.skops"

ALLOWED_PREFIXES = ("sklearn.", "numpy.", "scipy.sparse.")
# Inside the allowed packages, callables that touch files, the network or compilers.
DENIED_PREFIXES = (
    "sklearn.datasets.",
    "sklearn.externals.",
    "sklearn.utils._testing.",
    "numpy.lib._npyio_impl.",
    "numpy.lib.npyio.",
    "numpy.ctypeslib.",
    "numpy.f2py.",
    "numpy.distutils.",
    "numpy.testing.",
    "numpy.load",
    "numpy.save",
    "numpy.fromfile",
    "numpy.memmap",
    "numpy.loadtxt",
    "numpy.genfromtxt",
    "numpy.fromregex",
)


def allowed(type_name: str, trust: Sequence[str] = ()) -> bool:
    """Whether a skops type name may be rebuilt: allowlisted or explicitly trusted."""
    if any(type_name == t or type_name.startswith(t + ".") for t in trust):
        return True
    if type_name.startswith(DENIED_PREFIXES):
        return False
    return type_name.startswith(ALLOWED_PREFIXES)


def loads_skops(data: bytes, *, source: str, trust: Sequence[str] = ()) -> Any:
    """Rebuild a skops payload, trusting only allowlisted or explicitly trusted types.

    Raises:
        UntrustedCodeError: the payload needs a type outside the allowlist.
        BundleError: the bytes are not a skops file.
    """
    import skops.io

    try:
        needed = skops.io.get_untrusted_types(data=data)
    except Exception as exc:  # skops raises zipfile, JSON and key errors alike
        raise BundleError(
            f"{source} is not a readable skops file ({type(exc).__name__}: {exc})",
            hint="scikit-learn models are stored with skops; rebuild the bundle",
        ) from None
    refused = [name for name in needed if not allowed(name, trust)]
    if refused:
        raise UntrustedCodeError(
            source,
            refused,
            hint="if you wrote these types, pass their names in trust=[...] to the loader",
        )
    try:
        return skops.io.loads(data, trusted=needed)
    except Exception as exc:
        raise BundleError(
            f"{source} could not be loaded by skops ({type(exc).__name__}: {exc})",
            hint="check that the scikit-learn version matches the manifest's environment",
        ) from None


class SklearnFlavor(Flavor):
    name = "sklearn"
    packages = ("sklearn",)
    distributions = ("scikit-learn", "skops", "numpy")

    def feature_names(self, model: Any) -> list[str] | None:
        names = getattr(model, "feature_names_in_", None)
        return None if names is None else [str(n) for n in names]

    def save(
        self, model: Any, root: Path, signature: Signature, options: Mapping[str, Any]
    ) -> ModelForm:
        import skops.io

        path = root / MODEL_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(skops.io.dumps(model))
        return ModelForm(files=(MODEL_FILE,))

    def load(self, bundle: Bundle, *, trust: Sequence[str] = ()) -> LoadedModel:
        (name,) = bundle.manifest.forms[self.name].files
        model = loads_skops(bundle.read_bytes(name), source=name, trust=trust)
        return SklearnModel(model, bundle.manifest)


class SklearnModel(LoadedModel):
    """An estimator fed a DataFrame, so ColumnTransformers select columns by name."""

    def __init__(self, model: Any, manifest: Manifest) -> None:
        super().__init__(manifest, SklearnFlavor.name)
        self.model = model
        self._output = self.signature.outputs[0].name

    def predict(self, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import pandas as pd

        batch(columns, self.input_names)
        frame = pd.DataFrame({n: np.asarray(columns[n]) for n in self.input_names})
        if self.signature.task == "classification":
            return {
                "label": np.asarray(self.model.predict(frame)),
                "probabilities": np.asarray(self.model.predict_proba(frame), dtype=np.float64),
            }
        return {self._output: np.asarray(self.model.predict(frame))}
