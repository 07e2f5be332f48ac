"""Real bundles of small scikit-learn models, trained here on 600 synthetic rows.

y = 3·x1 + 1·x2 + 0.25·x3 + noise. Against a champion that reads x1 only, reading x2
as well is clearly better, x2 alone is clearly worse, and adding x3 is better by a
hair that 200 evaluation rows cannot tell from luck (p ≈ 0.66, measured).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge

from shipyard.bundle import build_bundle
from shipyard.config import load_settings
from shipyard.project import Project
from shipyard.registry import Registry

FEATURES = {
    "champion": ["x1"],
    "better": ["x1", "x2", "x3"],
    "marginal": ["x1", "x3"],
    "worse": ["x2"],
}


@pytest.fixture(scope="session")
def rows() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in (1, 2, 3)})
    noise = rng.normal(scale=1.0, size=n)
    frame["y"] = 3 * frame.x1 + 1.0 * frame.x2 + 0.25 * frame.x3 + noise
    return frame


@pytest.fixture(scope="session")
def eval_rows(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.iloc[400:].reset_index(drop=True)


@pytest.fixture(scope="session")
def bundles(rows: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One bundle directory per kind of model (see FEATURES)."""
    root = tmp_path_factory.mktemp("bundles")
    train = rows.iloc[:400]
    out = {}
    for kind, columns in FEATURES.items():
        model = Ridge(alpha=1.0).fit(train[columns], train["y"])
        bundle = build_bundle(
            model,
            root / kind,
            name="housing",
            input_example=train[columns].head(5),
            task="regression",
            metadata={"target": "y"},
            convert_onnx=False,
        )
        out[kind] = bundle.path
    return out


@pytest.fixture
def make_project(tmp_path: Path) -> Iterator[Callable[..., Project]]:
    """Projects in this test's directory, with ``--set``-style overrides (e.g. gate.alpha=0.01)."""
    made: list[Project] = []

    def make(*overrides: str) -> Project:
        made.append(Project(load_settings(tmp_path, overrides=overrides, environ={})))
        return made[-1]

    yield make
    for project in made:
        if "db" in vars(project):  # the cached_property was opened
            project.db.dispose()


@pytest.fixture
def project(make_project: Callable[..., Project]) -> Project:
    return make_project()


@pytest.fixture
def registry(project: Project) -> Registry:
    return Registry(project)
