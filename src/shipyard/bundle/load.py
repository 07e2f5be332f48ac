"""Loading a bundle to predict: verify every file, then read the chosen form.

Path: ``load_bundle`` -> (``unpack`` an archive into a private temporary directory)
-> ``Bundle.open`` verifies every sha256 -> the form's flavor reads its files through
``Bundle.read_bytes`` (hashed again as read) and builds the model in memory.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from shipyard.bundle.archive import unpack
from shipyard.bundle.flavors import get_flavor
from shipyard.bundle.flavors.base import LoadedModel
from shipyard.bundle.manifest import Bundle, Manifest
from shipyard.errors import BundleError


def load_bundle(
    source: str | Path | Bundle,
    *,
    prefer: Literal["onnx", "native"] = "onnx",
    trust: Sequence[str] = (),
) -> LoadedModel:
    """Load a bundle directory or archive, verified, as a predictor.

    Args:
        source: a bundle directory, a ``.tar.gz`` made by ``pack``, or a Bundle.
        prefer: ``onnx`` serves the ONNX form when the bundle has one (it is stored
            only when it matched the native form); ``native`` the form the model was
            built in (scikit-learn, torch, ...).
        trust: names the loader trusts beyond the built-in allowlist: skops type
            names (``mypkg.transformers.Clip``) or module prefixes for a torch state
            dict's class. A bundle cannot extend this list itself.

    Raises:
        IntegrityError: a file does not match its sha256, or is missing.
        UnlistedFileError: the bundle holds a file its manifest does not list.
        UntrustedCodeError: the model needs types or code nobody trusted.
        BundleError: anything else that makes the bundle unloadable.

    Example:
        >>> model = load_bundle("housing.tar.gz")
        >>> model.predict({"rooms": np.array([5.0]), "region": np.array(["north"])})
    """
    if isinstance(source, Bundle):
        return _load(source, prefer, trust)
    path = Path(source)
    if path.is_dir():
        return _load(Bundle.open(path), prefer, trust)
    if not path.is_file():
        raise BundleError(f"no bundle at {path}", hint="pass a bundle directory or archive")
    # every flavor builds its model in memory, so the extracted files can go
    with tempfile.TemporaryDirectory(prefix="shipyard-bundle-") as tmp:
        return _load(Bundle.open(unpack(path, Path(tmp) / "bundle")), prefer, trust)


def choose_form(manifest: Manifest, prefer: str) -> str:
    """The flavor name of the form ``prefer`` selects."""
    if prefer == "onnx":
        return "onnx" if "onnx" in manifest.forms else manifest.flavor
    if prefer == "native":
        return manifest.native_flavor
    raise BundleError(f"unknown preference {prefer!r}", hint="use 'onnx' or 'native'")


def _load(bundle: Bundle, prefer: str, trust: Sequence[str]) -> LoadedModel:
    return get_flavor(choose_form(bundle.manifest, prefer)).load(bundle, trust=trust)
