"""Housing-like data made here, and models fitted on it: one correct, one with the
bathrooms effect reversed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

FEATURES = ["sqft", "bedrooms", "bathrooms", "age", "lot_size", "region", "condition"]
REGION_EFFECT = {"VN": -40_000, "SG": 120_000, "US": 30_000, "DE": 60_000}


def housing(n: int = 400, *, seed: int = 0, bathroom_effect: float = 15_000.0) -> pd.DataFrame:
    """Price rises with sqft and bathrooms and falls with age; region shifts it."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "sqft": rng.uniform(500, 4000, n).round(),
            "bedrooms": rng.integers(1, 6, n),
            "bathrooms": rng.integers(1, 4, n),
            "age": rng.uniform(0, 80, n).round(),
            "lot_size": rng.uniform(1000, 20000, n).round(),
            "region": rng.choice(list(REGION_EFFECT), n),
            "condition": rng.integers(1, 6, n),
        }
    )
    frame["price"] = (
        50_000
        + 150 * frame["sqft"]
        + bathroom_effect * frame["bathrooms"]
        - 900 * frame["age"]
        + 5_000 * frame["condition"]
        + frame["region"].map(REGION_EFFECT)
        + rng.normal(0, 10_000, n)
    )
    return frame


def fit_linear(frame: pd.DataFrame) -> Pipeline:
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["region"]), remainder="passthrough"),
        LinearRegression(),
    )
    return model.fit(frame[FEATURES], frame["price"])


@pytest.fixture(scope="session")
def make_housing() -> Callable[..., pd.DataFrame]:
    return housing


@pytest.fixture(scope="session")
def good_model() -> Pipeline:
    return fit_linear(housing(seed=1))


@pytest.fixture(scope="session")
def broken_model() -> Pipeline:
    """Trained on data where each bathroom lowers the price."""
    return fit_linear(housing(seed=1, bathroom_effect=-15_000.0))


@pytest.fixture
def rows() -> pd.DataFrame:
    return housing(120, seed=2)[FEATURES]


@pytest.fixture
def counting() -> Callable[[Any], CountingModel]:
    return CountingModel


class CountingModel:
    """Wraps a model, counting predict_frame calls and rows (to check batching)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.calls: list[int] = []

    def predict_frame(self, frame: pd.DataFrame) -> np.ndarray:
        self.calls.append(len(frame))
        return np.asarray(self.model.predict(frame))
