"""XGBoost models (scikit-learn API or Booster), stored in XGBoost's UBJSON format."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shipyard.bundle.flavors.base import (
    MODEL_DIR,
    BoosterModel,
    Flavor,
    LoadedModel,
)
from shipyard.bundle.manifest import Bundle, ModelForm
from shipyard.bundle.signature import Signature
from shipyard.errors import BundleError

MODEL_FILE = f"{MODEL_DIR}/model.xgb.ubj"


def _booster(model: Any) -> Any:
    return model.get_booster() if hasattr(model, "get_booster") else model


class XGBoostFlavor(Flavor):
    name = "xgboost"
    packages = ("xgboost",)
    distributions = ("xgboost", "xgboost-cpu")

    def feature_names(self, model: Any) -> list[str] | None:
        names = _booster(model).feature_names
        return None if names is None else [str(n) for n in names]

    def save(
        self, model: Any, root: Path, signature: Signature, options: Mapping[str, Any]
    ) -> ModelForm:
        if any(t.datatype == "BYTES" for t in signature.inputs):
            raise BundleError(
                "the xgboost flavor takes numeric columns only",
                hint="encode string columns as numbers before training",
            )
        path = root / MODEL_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(_booster(model).save_raw("ubj")))
        return ModelForm(files=(MODEL_FILE,), options=dict(options))

    def load(self, bundle: Bundle, *, trust: Sequence[str] = ()) -> LoadedModel:
        import xgboost

        name = bundle.manifest.forms[self.name].files[0]
        booster = xgboost.Booster()
        try:
            booster.load_model(bytearray(bundle.read_bytes(name)))
        except xgboost.core.XGBoostError as exc:
            raise BundleError(f"{name} is not an XGBoost model: {exc}") from None
        return BoosterModel(bundle.manifest, self.name, booster.inplace_predict)
