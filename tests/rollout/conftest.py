"""Registered model versions for the deploy and CLI tests: three tiny Ridge bundles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge

from shipyard.bundle import build_bundle
from shipyard.project import Project
from shipyard.registry import Registry


@pytest.fixture(scope="session")
def housing_bundles(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three versions of a model over x1, x2 (the third reads x1 only)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x1": rng.normal(size=200), "x2": rng.normal(size=200)})
    y = 3 * frame.x1 + frame.x2
    root = tmp_path_factory.mktemp("rollout-bundles")
    paths = []
    for i, columns in enumerate((["x1", "x2"], ["x1", "x2"], ["x1"])):
        model = Ridge(alpha=1.0 + i).fit(frame[columns], y)
        bundle = build_bundle(
            model, root / f"v{i + 1}", name="housing", input_example=frame[columns].head(3),
            task="regression", convert_onnx=False,
        )  # fmt: skip
        paths.append(bundle.path)
    return paths


@pytest.fixture
def registered(tmp_path: Path, housing_bundles: list[Path]) -> Iterator[Project]:
    """A project whose registry holds housing:1..3, champion -> 1."""
    project = Project.open(tmp_path)
    registry = Registry(project)
    for path in housing_bundles:
        registry.register("housing", path)
    registry.set_alias("housing:1", "champion", actor="test", reason="test", forced=True)
    yield project
    project.db.dispose()
