"""Small housing data and fitted models shared by the bundle tests (2,000 rows)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

NUMERIC = ["rooms", "age", "income"]


@pytest.fixture(scope="session")
def housing() -> tuple[pd.DataFrame, pd.Series]:
    """Features (three numeric columns and a string region) and a price target."""
    rng = np.random.default_rng(7)
    n = 2_000
    frame = pd.DataFrame(
        {
            "rooms": rng.normal(5.0, 1.2, n),
            "age": rng.uniform(0.0, 60.0, n),
            "income": rng.lognormal(3.0, 0.4, n),
            "region": rng.choice(["north", "south", "east", "west"], n),
        }
    )
    bonus = frame["region"].map({"north": 60.0, "south": -20.0, "east": 10.0, "west": 0.0})
    price = 80 * frame["rooms"] - 1.5 * frame["age"] + 4 * frame["income"] + bonus
    return frame, price + rng.normal(0.0, 15.0, n)


@pytest.fixture(scope="session")
def price_band(housing: tuple[pd.DataFrame, pd.Series]) -> pd.Series:
    """A three-class string target cut from the price."""
    _, price = housing
    return pd.Series(
        np.where(
            price < price.quantile(0.33),
            "cheap",
            np.where(price < price.quantile(0.66), "mid", "dear"),
        ),
        index=price.index,
    )


def preprocessing() -> ColumnTransformer:
    return ColumnTransformer(
        [
            ("num", StandardScaler(), NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["region"]),
        ]
    )


@pytest.fixture(scope="session")
def ridge_pipeline(housing: tuple[pd.DataFrame, pd.Series]) -> Pipeline:
    frame, price = housing
    return Pipeline([("pre", preprocessing()), ("model", Ridge())]).fit(frame, price)


@pytest.fixture(scope="session")
def hgb_pipeline(housing: tuple[pd.DataFrame, pd.Series]) -> Pipeline:
    frame, price = housing
    model = HistGradientBoostingRegressor(max_iter=60, random_state=0)
    return Pipeline([("pre", preprocessing()), ("model", model)]).fit(frame, price)


@pytest.fixture(scope="session")
def logistic_pipeline(housing: tuple[pd.DataFrame, pd.Series], price_band: pd.Series) -> Pipeline:
    frame, _ = housing
    model = LogisticRegression(max_iter=1_000)
    return Pipeline([("pre", preprocessing()), ("model", model)]).fit(frame, price_band)
