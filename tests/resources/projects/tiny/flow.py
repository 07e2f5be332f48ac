"""A tiny user pipeline on non-housing data, written against the public API only."""

import threading

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import shipyard

# Two independent steps wait for each other here: they pass only if run in parallel.
BARRIER = threading.Barrier(2, timeout=20)


@shipyard.step
def make_data(rows: int = 400, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    shipyard.log_params(rows=rows)
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "label": y})


@shipyard.step
def split(frame: pd.DataFrame, test_share: float = 0.25) -> tuple[pd.DataFrame, pd.DataFrame]:
    cut = int(len(frame) * (1 - test_share))
    return frame.iloc[:cut], frame.iloc[cut:]


@shipyard.step
def fit(train: pd.DataFrame, c: float = 1.0) -> LogisticRegression:
    model = LogisticRegression(C=c).fit(train[["a", "b", "c"]], train["label"])
    for i, value in enumerate(np.linspace(1.0, 0.1, 5)):
        shipyard.log_metrics(loss=float(value), step=i)
    return model


@shipyard.step
def score(model: LogisticRegression, test: pd.DataFrame, fail: bool = False) -> dict:
    if fail:
        raise ValueError("scoring was told to fail")
    accuracy = float((model.predict(test[["a", "b", "c"]]) == test["label"]).mean())
    shipyard.log_metrics(accuracy=accuracy)
    return {"accuracy": accuracy}


@shipyard.pipeline
def classify(rows: int = 400, fail: bool = False):
    train, test = split(make_data(rows=rows))
    return score(fit(train), test, fail=fail)


@shipyard.step
def left(n: int = 1) -> int:
    BARRIER.wait()
    return n


@shipyard.step
def right(n: int = 2) -> int:
    BARRIER.wait()
    return n


@shipyard.step
def add(a: int, b: int) -> int:
    return a + b


@shipyard.pipeline
def diamond():
    return add(left(), right())
