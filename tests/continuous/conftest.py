"""A trained, served tiny project, built once per session and copied for each test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from continuous_helpers import write_project

from shipyard.pipeline import load_pipeline
from shipyard.project import Project
from shipyard.registry import Registry
from shipyard.rollout.deploy import deploy


@pytest.fixture(scope="session")
def _served_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny:1 trained on the reference world, champion, served alone on endpoint 'tiny'."""
    root = tmp_path_factory.mktemp("continuous") / "tiny"
    write_project(root)
    project = Project.open(root)
    pipe = load_pipeline("retrain.py:tiny", root)
    pipe.name = "tiny"
    run = pipe.run(project=project)
    assert run.model_version is not None and run.model_version.version == 1
    Registry(project).set_alias("tiny:1", "champion", actor="test", reason="first", forced=True)
    deploy(project, "tiny", {"strategy": "single", "model": "tiny@champion"}, actor="test")
    project.db.dispose()
    return root


@pytest.fixture
def tiny(tmp_path: Path, _served_template: Path) -> Iterator[Project]:
    """A fresh copy of the served tiny project."""
    root = tmp_path / "tiny"
    shutil.copytree(_served_template, root)
    project = Project.open(root)
    yield project
    project.db.dispose()
