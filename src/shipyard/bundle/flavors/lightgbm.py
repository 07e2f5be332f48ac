"""LightGBM models (scikit-learn API or Booster), stored in LightGBM's own text format."""

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

MODEL_FILE = f"{MODEL_DIR}/model.lgb.txt"


def _booster(model: Any) -> Any:
    return getattr(model, "booster_", model)


class LightGBMFlavor(Flavor):
    name = "lightgbm"
    packages = ("lightgbm",)
    distributions = ("lightgbm",)

    def feature_names(self, model: Any) -> list[str] | None:
        names = [str(n) for n in _booster(model).feature_name()]
        # LightGBM names features Column_0... when fitted on an array: nothing to check
        return None if names == [f"Column_{i}" for i in range(len(names))] else names

    def save(
        self, model: Any, root: Path, signature: Signature, options: Mapping[str, Any]
    ) -> ModelForm:
        if any(t.datatype == "BYTES" for t in signature.inputs):
            raise BundleError(
                "the lightgbm flavor takes numeric columns only",
                hint="encode string columns as numbers before training",
            )
        path = root / MODEL_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_booster(model).model_to_string(), encoding="utf-8")
        return ModelForm(files=(MODEL_FILE,), options=dict(options))

    def load(self, bundle: Bundle, *, trust: Sequence[str] = ()) -> LoadedModel:
        import lightgbm

        name = bundle.manifest.forms[self.name].files[0]
        try:
            booster = lightgbm.Booster(model_str=bundle.read_bytes(name).decode("utf-8"))
        except (lightgbm.basic.LightGBMError, UnicodeDecodeError) as exc:
            raise BundleError(f"{name} is not a LightGBM model: {exc}") from None
        return BoosterModel(bundle.manifest, self.name, booster.predict)
