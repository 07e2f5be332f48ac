"""The one small interface every flavor implements, and the loaded model it returns."""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from shipyard.bundle.manifest import Bundle, Manifest, ModelForm
from shipyard.bundle.signature import DATATYPES, Signature
from shipyard.errors import BundleError

# The directory inside a bundle that holds every form's model files.
MODEL_DIR = "model"


class InputError(BundleError, ValueError):
    """Columns given to ``predict`` do not fit the model's signature."""


class UntrustedCodeError(BundleError):
    """Loading would create objects of types (or import code) nobody has trusted."""

    def __init__(self, path: str, names: Sequence[str], *, hint: str) -> None:
        self.path = path
        self.names = tuple(names)
        super().__init__(f"{path} needs untrusted types {list(names)}", hint=hint)


class Flavor(ABC):
    """How one kind of model is written into a bundle and read back to predict.

    ``packages`` are the top-level packages whose objects this flavor saves (matched
    against the model's class and its bases); ``distributions`` are recorded with their
    versions in the manifest's environment.
    """

    name: ClassVar[str]
    packages: ClassVar[tuple[str, ...]]
    distributions: ClassVar[tuple[str, ...]] = ()

    def accepts(self, model: Any) -> bool:
        roots = {cls.__module__.split(".")[0] for cls in type(model).__mro__}
        return bool(roots & set(self.packages))

    def feature_names(self, model: Any) -> list[str] | None:
        """The feature names the model was fitted with, in order, when it knows them."""
        return None

    def classes(self, model: Any) -> np.ndarray | None:
        """A classifier's classes, in the order of its probability columns."""
        classes = getattr(model, "classes_", None)
        return None if classes is None else np.asarray(classes)

    @abstractmethod
    def save(
        self, model: Any, root: Path, signature: Signature, options: Mapping[str, Any]
    ) -> ModelForm:
        """Write the model's files under ``root / MODEL_DIR``; return the form to record."""

    @abstractmethod
    def load(self, bundle: Bundle, *, trust: Sequence[str] = ()) -> LoadedModel:
        """Build a predictor from this flavor's form of a verified bundle."""


class LoadedModel(ABC):
    """A bundle's model loaded by one flavor: a ``Predictor`` that knows its bundle.

    ``predict`` takes one 1-D array per input column and returns one array per output:
    ``prediction`` for regression, ``label`` and ``probabilities`` for classification.
    """

    def __init__(self, manifest: Manifest, flavor: str) -> None:
        self.manifest = manifest
        self.signature: Signature = manifest.signature
        self.flavor = flavor
        self.input_names = tuple(manifest.signature.input_names)

    @property
    def form(self) -> ModelForm:
        return self.manifest.forms[self.flavor]

    @abstractmethod
    def predict(self, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Predict a batch given as one array per input column."""

    def predict_frame(self, frame: Any) -> np.ndarray:
        """Predict a pandas DataFrame; returns the main output (prediction or label)."""
        return self.predict(frame_columns(frame, self.signature))[main_output(self.signature)]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.manifest.name!r} flavor={self.flavor}>"


def main_output(signature: Signature) -> str:
    if signature.task == "classification":
        return "label"
    return signature.outputs[0].name


def frame_columns(frame: Any, signature: Signature) -> dict[str, np.ndarray]:
    """A DataFrame's input columns as the arrays ``predict`` takes."""
    missing = [n for n in signature.input_names if n not in frame.columns]
    if missing:
        raise InputError(
            f"the frame lacks input columns {missing}",
            hint=f"the model takes {signature.input_names}",
        )
    return {name: frame[name].to_numpy() for name in signature.input_names}


def batch(columns: Mapping[str, np.ndarray], names: Sequence[str]) -> int:
    """The batch length, after checking every input column is there with one length."""
    missing = [n for n in names if n not in columns]
    if missing:
        raise InputError(f"missing input columns {missing}", hint=f"the model takes {list(names)}")
    lengths = {len(columns[n]) for n in names}
    if len(lengths) != 1:
        raise InputError(f"input columns have different lengths {sorted(lengths)}")
    return lengths.pop()


def matrix(
    columns: Mapping[str, np.ndarray], names: Sequence[str], dtype: Any = np.float64
) -> np.ndarray:
    """Input columns stacked, in signature order, into one (batch, features) array."""
    batch(columns, names)
    return np.column_stack([np.asarray(columns[n], dtype=dtype) for n in names])


def class_array(signature: Signature) -> np.ndarray:
    """The signature's classes in the label output's dtype (its JSON form is strings)."""
    label = next((t for t in signature.outputs if t.name == "label"), None)
    dtype = DATATYPES[label.datatype] if label is not None else "object"
    if dtype == "bool":
        return np.array([c == "True" for c in signature.classes])
    return np.array(signature.classes, dtype=object).astype(dtype)


def classified(probabilities: np.ndarray, classes: np.ndarray) -> dict[str, np.ndarray]:
    """Label and probability outputs from class scores (binary: one column, positive)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim == 1:
        probabilities = np.column_stack([1.0 - probabilities, probabilities])
    return {"label": classes[np.argmax(probabilities, axis=1)], "probabilities": probabilities}


def import_path(cls: type) -> str:
    """``module:qualname`` for a class, refusing ones another process cannot import."""
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        raise BundleError(
            f"class {cls.__qualname__} is defined in {cls.__module__} "
            "and cannot be imported by the process that loads the bundle",
            hint="define it at the top level of an importable module",
        )
    return f"{cls.__module__}:{cls.__qualname__}"


def trusted_module(module: str, trust: Sequence[str]) -> bool:
    """A module may be imported on a bundle's say when already imported or trusted."""
    return module in sys.modules or any(module == t or module.startswith(t + ".") for t in trust)


class BoosterModel(LoadedModel):
    """A gradient-boosting booster read from its native format (LightGBM, XGBoost).

    Both take one float matrix with the columns in signature order; ``score`` is the
    booster's own predict call, giving values (regression) or class probabilities.
    """

    def __init__(self, manifest: Manifest, flavor: str, score: Callable[[np.ndarray], Any]) -> None:
        super().__init__(manifest, flavor)
        self._score = score
        if self.signature.task == "classification":
            self._classes = class_array(self.signature)

    def predict(self, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        scores = self._score(matrix(columns, self.input_names))
        if self.signature.task == "classification":
            return classified(scores, self._classes)
        return {self.signature.outputs[0].name: np.asarray(scores, dtype=np.float64)}
