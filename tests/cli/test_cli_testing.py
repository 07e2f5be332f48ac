"""`shipyard test` as a user meets it: a real process against a project with two versions."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from typer.testing import CliRunner

from shipyard.bundle import build_bundle
from shipyard.cli.app import app
from shipyard.project import Project
from shipyard.registry.registry import Registry

SUITES = """
suites:
  behaviour:
    data: {file: rows.csv}
    tests:
      - directional: {name: more-bathrooms, column: bathrooms, delta: 1, expect: not_decrease}
      - invariance: {name: lot-noise, column: lot_size, noise: 1.0, tolerance: 0.01, relative: true}
"""


def shipyard(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shipyard", "-C", str(root), *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture
def housing_project(tmp_path: Path) -> Path:
    """housing:1 prices bathrooms up, housing:2 (trained on reversed data) down."""
    rng = np.random.default_rng(0)
    rows = pd.DataFrame(
        {
            "sqft": rng.uniform(500, 4000, 300).round(),
            "bathrooms": rng.integers(1, 4, 300),
            "lot_size": rng.uniform(1000, 20000, 300).round(),
        }
    )
    registry = Registry(Project.open(tmp_path))
    for number, effect in ((1, 15_000), (2, -15_000)):
        price = 150 * rows["sqft"] + effect * rows["bathrooms"] + rng.normal(0, 5_000, 300)
        out = tmp_path / f"bundle-{number}"
        build_bundle(
            LinearRegression().fit(rows, price), out, name="housing",
            input_example=rows.head(5), convert_onnx=False,
        )  # fmt: skip
        registry.register("housing", out)
    rows.head(40).to_csv(tmp_path / "rows.csv", index=False)
    (tmp_path / "shipyard_tests.yaml").write_text(textwrap.dedent(SUITES))
    return tmp_path


def test_json_report_of_a_passing_version(housing_project: Path):
    # In process: the version's model is already loaded by the fixture's imports.
    result = CliRunner().invoke(app, ["-C", str(housing_project), "test", "housing:1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["passed"] is True and report["version"] == "housing:1"
    assert [r["name"] for r in report["suites"][0]["results"]] == ["more-bathrooms", "lot-noise"]


def test_shipyard_test_fails_the_broken_version_and_shows_examples(housing_project: Path):
    broken = shipyard(housing_project, "test", "housing:2")
    assert broken.returncode == 1, broken.stderr
    out = broken.stdout
    assert "more-bathrooms" in out and "FAIL" in out and "40/40" in out
    assert "worst 5 of 40 failing" in out
    assert "bathrooms=" in out  # the failing examples' inputs are shown
    assert "1 failed" in out


def test_unknown_suite_is_a_clear_error(housing_project: Path):
    proc = shipyard(housing_project, "test", "housing:1", "--suite", "nope")
    assert proc.returncode == 2
    assert "no suite named 'nope'" in proc.stderr and "declared suites: behaviour" in proc.stderr
