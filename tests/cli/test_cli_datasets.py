"""`shipyard datasets list|show`: the sub-app in process, and once the real command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shipyard.cli.datasets import app
from shipyard.data.dataset import Dataset
from shipyard.project import Project


@pytest.fixture
def root(project: Project, monkeypatch: pytest.MonkeyPatch) -> Path:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"area": rng.normal(100, 10, 200), "region": rng.choice(["n", "s"], 200)})
    Dataset.snapshot(df.iloc[:100], "housing", project)
    Dataset.snapshot(df, "housing", project)
    monkeypatch.chdir(project.root)  # the sub-app alone opens the project in the cwd
    return project.root


def cli(root: Path, *args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_list_json_gives_every_dataset_newest_first(root: Path) -> None:
    listed = json.loads(cli(root, "list", "--json"))
    assert [d["rows"] for d in listed] == [200, 100]
    assert set(listed[0]) == {"digest", "name", "rows", "columns", "schema", "created_at"}


def test_list_table_shows_short_digests_and_names(root: Path) -> None:
    out = cli(root, "list")
    digest = json.loads(cli(root, "list", "--json"))[0]["digest"]
    assert digest[:12] in out and "housing" in out and digest not in out


def test_show_json_gives_the_profile_without_samples_unless_asked(root: Path) -> None:
    shown = json.loads(cli(root, "show", "housing", "--json"))
    assert shown["rows"] == 200
    area = shown["profile"]["columns"][0]
    assert area["name"] == "area" and "quantiles" in area and "sample" not in area
    full = json.loads(cli(root, "show", "housing", "--json", "--samples"))
    assert len(full["profile"]["columns"][0]["sample"]) == 200


def test_show_table_lists_each_column(root: Path) -> None:
    out = cli(root, "show", "housing")
    assert "area" in out and "region" in out and "200 rows x 2 columns" in out


def test_show_unknown_exits_2_with_a_hint(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "shipyard", "-C", str(tmp_path), "datasets", "show", "nope"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "dataset 'nope' not found" in proc.stderr and "shipyard datasets list" in proc.stderr
