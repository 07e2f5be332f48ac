"""Real, tiny models for the serving tests: fitted scikit-learn and onnxruntime Predictors.

Importable by a subprocess too (``--source serving_models:make_source`` with this
directory on PYTHONPATH), so the SIGTERM test serves the same models.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np
import onnxruntime as ort
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from shipyard.bundle.signature import Signature, TensorSpec
from shipyard.serving import InMemorySource

HOUSING = Signature(
    inputs=(
        TensorSpec("rooms", "FP32", minimum=0, maximum=50),
        TensorSpec("area", "FP32", minimum=0, maximum=10_000),
        TensorSpec("age", "FP32", nullable=True),
    ),
    outputs=(TensorSpec("prediction", "FP32"),),
)

PLANS = ("basic", "pro", "enterprise")
CHURN = Signature(
    inputs=(
        TensorSpec("tenure", "FP64", minimum=0),
        TensorSpec("plan", "BYTES", categories=PLANS),
        TensorSpec("seats", "INT64", minimum=1, maximum=10_000),
        TensorSpec("active", "BOOL"),
    ),
    outputs=(
        TensorSpec("label", "BYTES"),
        TensorSpec("probability", "FP64", shape=(-1, 2)),
    ),
    task="classification",
    classes=("stays", "churns"),
)

FRAGILE = Signature(
    inputs=(TensorSpec("x", "FP64", nullable=True),),
    outputs=(TensorSpec("y", "FP64"),),
)


class OnnxRegressor:
    """A LinearRegression converted to ONNX, run by onnxruntime; one input per feature."""

    def __init__(self, model: LinearRegression, signature: Signature) -> None:
        self.signature = signature
        self.names = signature.input_names
        onnx_model = convert_sklearn(
            model, initial_types=[("X", FloatTensorType([None, len(self.names)]))]
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(
            onnx_model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )

    def predict(self, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        X = np.column_stack([columns[n] for n in self.names]).astype(np.float32, copy=False)
        (y,) = self.session.run(None, {"X": X})
        return {"prediction": y.reshape(-1)}


class SklearnChurn:
    """A scikit-learn pipeline (scaler + one-hot + logistic regression)."""

    def __init__(self, model: Any) -> None:
        self.signature = CHURN
        self.model = model

    def predict(self, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        X = np.empty((len(columns["tenure"]), 4), dtype=object)
        for j, name in enumerate(self.signature.input_names):
            X[:, j] = columns[name]
        proba = self.model.predict_proba(X)
        labels = np.array(self.signature.classes, dtype=object)[proba.argmax(axis=1)]
        return {"label": labels, "probability": proba}


class SklearnFragile:
    """A LinearRegression whose signature allows NaN, which scikit-learn then refuses."""

    def __init__(self, model: LinearRegression) -> None:
        self.signature = FRAGILE
        self.model = model

    def predict(self, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"y": self.model.predict(columns["x"].reshape(-1, 1))}


class Recording:
    """Wraps a Predictor, recording the rows and thread of each call (and sleeping, if asked)."""

    def __init__(self, inner: Any, delay_s: float = 0.0) -> None:
        self.inner = inner
        self.signature = inner.signature
        self.delay_s = delay_s
        self.calls: list[int] = []
        self.threads: list[str] = []
        self._lock = threading.Lock()

    def predict(self, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self._lock:
            self.calls.append(len(next(iter(columns.values()))))
            self.threads.append(threading.current_thread().name)
        if self.delay_s:
            time.sleep(self.delay_s)
        return self.inner.predict(columns)


@cache
def housing_model(slope: float = 1.0) -> OnnxRegressor:
    rng = np.random.default_rng(0)
    X = np.column_stack(
        [rng.uniform(1, 8, 200), rng.uniform(30, 300, 200), rng.uniform(0, 90, 200)]
    )
    y = slope * (20 * X[:, 0] + 1.5 * X[:, 1] - 0.3 * X[:, 2]) + rng.normal(0, 5, 200)
    return OnnxRegressor(LinearRegression().fit(X, y), HOUSING)


def housing_expected(model: OnnxRegressor, rows: np.ndarray) -> np.ndarray:
    """What the model itself predicts, for comparing with the server's answer."""
    cols = {n: rows[:, j].astype(np.float32) for j, n in enumerate(HOUSING.input_names)}
    return model.predict(cols)["prediction"]


@cache
def churn_model() -> SklearnChurn:
    rng = np.random.default_rng(1)
    n = 300
    X = np.empty((n, 4), dtype=object)
    X[:, 0] = rng.uniform(0, 60, n)
    X[:, 1] = rng.choice(PLANS, n)
    X[:, 2] = rng.integers(1, 500, n)
    X[:, 3] = rng.random(n) < 0.5
    y = (X[:, 0].astype(float) < 12) | (X[:, 1] == "basic")
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), [0, 2]),
            ("cat", OneHotEncoder(), [1]),
            ("flag", "passthrough", [3]),
        ]
    )
    return SklearnChurn(make_pipeline(pre, LogisticRegression()).fit(X, y))


@cache
def fragile_model() -> SklearnFragile:
    X = np.arange(10.0).reshape(-1, 1)
    return SklearnFragile(LinearRegression().fit(X, 2 * X.ravel() + 1))


def make_source(settings: Any = None, *, slow_delay_s: float = 1.0) -> InMemorySource:
    """Every test model: housing v1 (champion) and v2, churn, fragile and a slow housing."""
    return InMemorySource(
        {
            "housing": {1: housing_model(1.0), 2: housing_model(2.0)},
            "churn": {1: churn_model()},
            "fragile": {1: fragile_model()},
            "slow": {1: Recording(housing_model(1.0), delay_s=slow_delay_s)},
        },
        aliases={"housing": {"champion": 1, "challenger": 2}},
        platform="test",
    )
