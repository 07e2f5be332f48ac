"""The bundle: the deployable artifact every pipeline produces and the server loads.

A bundle is a directory (and a deterministic ``.tar.gz`` of it) holding the model with
its preprocessing as one object, the input/output signature, an input example, the
training data's reference profile, test results, the evaluation report, and
``manifest.json`` listing every file's sha256, the producing run and the flavor.

In: ``build_bundle(model, dir, ...)`` (or ``import_mlflow_model``) -> ``pack`` for one
file. Out: ``load_bundle(dir_or_archive)`` -> ``unpack`` safely -> ``Bundle.open``
verifies every hash -> the chosen form's flavor loads it -> ``LoadedModel.predict``.

Nothing is unpickled: scikit-learn models are skops files rebuilt from an allowlist,
torch state dicts load weights-only, ONNX, LightGBM and XGBoost use their own formats.
A scikit-learn model that converts to ONNX with the same predictions serves through
onnxruntime, and the bundle keeps both forms.
"""

from shipyard.bundle.archive import UnsafeArchiveError, pack, unpack
from shipyard.bundle.build import build_bundle, infer_signature
from shipyard.bundle.convert import ConversionError, Equivalence
from shipyard.bundle.flavors import FLAVORS, InputError, LoadedModel, UntrustedCodeError
from shipyard.bundle.load import load_bundle
from shipyard.bundle.manifest import Bundle, Manifest, UnlistedFileError
from shipyard.bundle.mlflow_import import PickleRefusedError, import_mlflow_model
from shipyard.bundle.signature import Predictor, Signature, TensorSpec

__all__ = [
    "FLAVORS",
    "Bundle",
    "ConversionError",
    "Equivalence",
    "InputError",
    "LoadedModel",
    "Manifest",
    "PickleRefusedError",
    "Predictor",
    "Signature",
    "TensorSpec",
    "UnlistedFileError",
    "UnsafeArchiveError",
    "UntrustedCodeError",
    "build_bundle",
    "import_mlflow_model",
    "infer_signature",
    "load_bundle",
    "pack",
    "unpack",
]
