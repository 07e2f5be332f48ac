"""The benchmark's pipeline: load -> split -> train -> evaluate on synthetic housing rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

import shipyard


@shipyard.step
def load(rows: int = 5000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    area = rng.lognormal(4.5, 0.4, rows)
    rooms = rng.integers(1, 7, rows)
    age = rng.uniform(0, 80, rows)
    price = 2.0 * area + 15 * rooms - 0.8 * age + rng.normal(0, 20, rows)
    return pd.DataFrame({"area": area, "rooms": rooms, "age": age, "price": price})


@shipyard.step
def split(frame: pd.DataFrame, test_size: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame]:
    test = frame.sample(frac=test_size, random_state=0)
    return frame.drop(test.index), test


@shipyard.step
def train(frame: pd.DataFrame, max_iter: int = 100) -> HistGradientBoostingRegressor:
    shipyard.log_params(max_iter=max_iter)
    model = HistGradientBoostingRegressor(max_iter=max_iter, random_state=0)
    return model.fit(frame.drop(columns="price"), frame["price"])


@shipyard.step
def evaluate(model: HistGradientBoostingRegressor, frame: pd.DataFrame) -> dict:
    error = model.predict(frame.drop(columns="price")) - frame["price"].to_numpy()
    rmse = float(np.sqrt(np.mean(error**2)))
    shipyard.log_metrics(rmse=rmse)
    return {"rmse": rmse}


@shipyard.pipeline
def bench(rows: int = 5000):
    train_rows, test_rows = split(load(rows=rows))
    return evaluate(train(train_rows), test_rows)
