"""Small fitted models and their evaluation rows, shared by the evaluate and report tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression

DIGEST = "ab" * 32


@dataclass(frozen=True)
class Case:
    """A model, the frame it is evaluated on (target included) and the target's name."""

    model: Any
    weak: Any  # a worse model of the same task, for comparisons
    frame: pd.DataFrame
    target: str


@pytest.fixture(scope="session")
def binary_case() -> Case:
    x, y = make_classification(n_samples=400, n_features=5, n_informative=3, random_state=0)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(5)])
    rng = np.random.default_rng(0)
    frame["region"] = rng.choice(["north", "south", "east"], size=len(frame))
    frame["label"] = np.where(y == 1, "yes", "no")
    train, test = frame.iloc[:200], frame.iloc[200:].reset_index(drop=True)
    features = [f"f{i}" for i in range(5)]
    model = _Columns(LogisticRegression().fit(train[features], train.label), features)
    weak = _Columns(LogisticRegression(C=0.001).fit(train[["f4"]], train.label), ["f4"])
    return Case(model, weak, test, "label")


@pytest.fixture(scope="session")
def multiclass_case() -> Case:
    x, y = make_classification(
        n_samples=450, n_features=6, n_informative=4, n_classes=3, random_state=1
    )
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(6)])
    frame["label"] = y  # integer labels
    train, test = frame.iloc[:200], frame.iloc[200:].reset_index(drop=True)
    features = [f"f{i}" for i in range(6)]
    model = _Columns(LogisticRegression(max_iter=500).fit(train[features], train.label), features)
    weak = _Columns(DummyClassifier(strategy="prior").fit(train[features], train.label), features)
    return Case(model, weak, test, "label")


@pytest.fixture(scope="session")
def regression_case() -> Case:
    x, y = make_regression(n_samples=300, n_features=4, noise=20.0, random_state=2)
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    frame["year"] = np.random.default_rng(2).integers(2000, 2024, size=len(frame))
    frame["y"] = y + 500.0  # keep MAPE defined
    train, test = frame.iloc[:150], frame.iloc[150:].reset_index(drop=True)
    model = _Columns(
        LinearRegression().fit(train[["a", "b", "c", "d"]], train.y), ["a", "b", "c", "d"]
    )
    weak = _Columns(LinearRegression().fit(train[["d"]], train.y), ["d"])
    return Case(model, weak, test, "y")


class _Columns:
    """A scikit-learn model that picks its own columns from a wider frame."""

    def __init__(self, model: Any, columns: list[str]) -> None:
        self.model = model
        self.columns = columns
        if hasattr(model, "classes_"):
            self.classes_ = model.classes_

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model.predict(frame[self.columns])

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(frame[self.columns])
