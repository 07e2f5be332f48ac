"""Model flavors: one module per kind of model, each behind the ``Flavor`` interface.

A flavor saves a model's files into a bundle and loads them back as a ``LoadedModel``.
Flavor modules import their library (torch, lightgbm, ...) inside the functions that
use it, so loading an ONNX bundle never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from shipyard.bundle.flavors.base import Flavor, InputError, LoadedModel, UntrustedCodeError
from shipyard.errors import BundleError

# Checked in this order: LightGBM and XGBoost estimators are also scikit-learn ones.
_FLAVORS = {
    "onnx": "shipyard.bundle.flavors.onnx:OnnxFlavor",
    "torch": "shipyard.bundle.flavors.torch:TorchFlavor",
    "lightgbm": "shipyard.bundle.flavors.lightgbm:LightGBMFlavor",
    "xgboost": "shipyard.bundle.flavors.xgboost:XGBoostFlavor",
    "sklearn": "shipyard.bundle.flavors.sklearn:SklearnFlavor",
}

FLAVORS = tuple(_FLAVORS)


def get_flavor(name: str) -> Flavor:
    """The flavor registered under ``name``."""
    if name not in _FLAVORS:
        raise BundleError(f"unknown flavor {name!r}", hint=f"flavors are {', '.join(FLAVORS)}")
    module, _, cls = _FLAVORS[name].partition(":")
    flavor: Flavor = getattr(importlib.import_module(module), cls)()
    return flavor


def flavor_for(model: Any) -> Flavor:
    """The flavor that saves ``model``, judged by the packages of its class and bases."""
    for name in _FLAVORS:
        flavor = get_flavor(name)
        if flavor.accepts(model):
            return flavor
    raise BundleError(
        f"no flavor saves a {type(model).__module__}.{type(model).__qualname__}",
        hint=f"bundles hold models of these flavors: {', '.join(FLAVORS)}",
    )


__all__ = [
    "FLAVORS",
    "Flavor",
    "InputError",
    "LoadedModel",
    "UntrustedCodeError",
    "flavor_for",
    "get_flavor",
]
