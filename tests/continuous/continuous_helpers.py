"""A tiny retrainable project for the continuous-training tests: a linear world that shifts.

The pipeline reads a stored dataset when given one (as the housing template does) and
otherwise generates the reference rows; the model is a plain LinearRegression bundled
without ONNX, so a whole retraining takes about a second.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shipyard.continuous.spec import WatchSpec
from shipyard.project import Project
from shipyard.store.events import EventStore

PIPELINE = """
import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression

import shipyard
from shipyard.data import Dataset

FEATURES = ["x1", "x2"]


def world(rows, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(0, 1, rows)
    x2 = rng.normal(0, 1, rows)
    y = 3 * x1 + x2 + shift + rng.normal(0, 0.3, rows)
    return pd.DataFrame({"x1": x1, "x2": x2, "y": y})


@shipyard.step
def load(dataset: str | None = None, rows: int = 400) -> pd.DataFrame:
    if dataset is not None:
        return Dataset.load(dataset, shipyard.current_project()).to_pandas()
    frame = world(rows, seed=0)
    shipyard.log_dataset(frame, "tiny-raw")
    return frame


@shipyard.step
def split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    test = frame.sample(frac=0.2, random_state=0).sort_index()
    return frame.drop(test.index).reset_index(drop=True), test.reset_index(drop=True)


@shipyard.step
def fit(train: pd.DataFrame) -> LinearRegression:
    return LinearRegression().fit(train[FEATURES], train["y"])


@shipyard.step
def package(model: LinearRegression, train: pd.DataFrame, test: pd.DataFrame) -> shipyard.Bundle:
    return shipyard.build_bundle(
        model, shipyard.scratch_dir("bundle"), name="tiny", task="regression",
        input_example=train[FEATURES].head(5), convert_onnx=False,
        metadata={"target": "y", "evaluation_dataset": shipyard.log_dataset(test, "tiny-eval").digest},
    )


@shipyard.pipeline(model="tiny")
def tiny(dataset: str | None = None, rows: int = 400):
    train, test = split(load(dataset=dataset, rows=rows))
    return package(fit(train), train, test)
"""

CONFIG = """
pipelines:
  tiny: {entry: retrain.py:tiny}
gate:
  primary_metric: rmse
  alpha: 0.05
  required_suites: [tiny-behaviour]
tests:
  tiny-behaviour:
    tests:
      - directional: {name: more-x1, column: x1, delta: 1, expect: increase}
continuous:
  tiny:
    pipeline: tiny
    endpoint: tiny
    training_set:
      reference: tiny-raw
      reference_share: 0.2
      min_labelled: 60
      eval_share: 0.4
      max_events: 1000
      on_insufficient: fail
    rollout:
      steps: [{set_weight: 50}, {set_weight: 100}]
    cooldown_s: 0
    n_bootstrap: 200
"""

WATCH = {
    "model": "tiny",
    "pipeline": "tiny",
    "endpoint": "tiny",
    "training_set": {
        "reference": "tiny-raw", "reference_share": 0.2, "min_labelled": 60,
        "eval_share": 0.4, "max_events": 1000, "on_insufficient": "fail",
    },
    "rollout": {"steps": [{"set_weight": 50}, {"set_weight": 100}]},
    "cooldown_s": 0,
    "n_bootstrap": 200,
}  # fmt: skip


def watch_spec(**changes: Any) -> WatchSpec:
    """The tiny project's watch spec with top-level keys (or training_set keys) changed."""
    data = {**WATCH, "training_set": dict(WATCH["training_set"])}
    for key, value in changes.items():
        if key in data["training_set"] or key in ("target", "outcome", "seed", "max_wait_s"):
            data["training_set"][key] = value
        else:
            data[key] = value
    return WatchSpec.model_validate(data)


def world(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """The same world as the pipeline's: y = 3 x1 + x2 (+ shift) + noise."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(0, 1, rows)
    x2 = rng.normal(0, 1, rows)
    y = 3 * x1 + x2 + shift + rng.normal(0, 0.3, rows)
    return pd.DataFrame({"x1": x1, "x2": x2, "y": y})


def write_project(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "retrain.py").write_text(PIPELINE)
    (root / "shipyard.yaml").write_text(CONFIG)


def serve(
    project: Project,
    frame: pd.DataFrame,
    *,
    model: str = "tiny:1",
    endpoint: str = "tiny",
    start: float | None = None,
    labelled: bool = True,
) -> list[str]:
    """Store one single-row prediction event per row (answered by ``model``), with its label."""
    name, version = model.split(":")
    start = time.time() - len(frame) - 10 if start is None else start
    ids = [f"r-{uuid.uuid4().hex[:12]}" for _ in range(len(frame))]
    rows = [
        {
            "request_id": rid, "at": start + i, "endpoint": endpoint, "model_name": name,
            "model_version": int(version), "variant": "default", "key": None,
            "inputs": {"x1": [float(r.x1)], "x2": [float(r.x2)]},
            "outputs": {"variable": [float(3 * r.x1 + r.x2)]}, "latency_ms": 1.0,
        }
        for i, (rid, r) in enumerate(zip(ids, frame.itertuples(), strict=True))
    ]  # fmt: skip
    store = EventStore(project.db)
    store.write(rows)
    if labelled:
        for rid, y in zip(ids, frame["y"], strict=True):
            store.record_outcome(rid, "label", float(y), at=start + len(frame))
    return ids


def drift_alert(project: Project, endpoint: str = "tiny", kind: str = "drift") -> Any:
    return EventStore(project.db).record_alert(
        endpoint=endpoint, kind=kind, dedup_key=f"{endpoint}|x1|{kind}|{uuid.uuid4().hex[:6]}",
        message=f"{endpoint} (tiny:1): input 'x1' drifted", details={"model": "tiny:1"},
        cooldown_s=0,
    )  # fmt: skip
