"""`shipyard models import-mlflow`: an MLflow model directory becomes a registered version."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import skops.io
import yaml
from sklearn.linear_model import Ridge


def _mlflow_dir(root: Path) -> tuple[Path, pd.DataFrame, Ridge]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=50), "b": rng.normal(size=50)})
    model = Ridge().fit(frame, frame.a * 2 + frame.b)
    root.mkdir()
    (root / "model.skops").write_bytes(skops.io.dumps(model))
    example = {"columns": ["a", "b"], "data": frame.head(3).to_numpy().tolist()}
    (root / "input_example.json").write_text(json.dumps(example))
    (root / "MLmodel").write_text(
        yaml.safe_dump(
            {
                "artifact_path": "model",
                "flavors": {
                    "python_function": {
                        "loader_module": "mlflow.sklearn",
                        "model_path": "model.skops",
                    },
                    "sklearn": {
                        "pickled_model": "model.skops",
                        "serialization_format": "skops",
                        "sklearn_version": "1.9.1",
                    },
                },
                "saved_input_example_info": {
                    "artifact_path": "input_example.json",
                    "pandas_orient": "split",
                    "type": "dataframe",
                },
            }
        )
    )
    return root, frame, model


def test_import_mlflow_registers_a_version_that_predicts_like_the_original(tmp_path: Path) -> None:
    source, frame, model = _mlflow_dir(tmp_path / "mlflow-model")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "shipyard",
            "-C",
            str(tmp_path),
            "models",
            "import-mlflow",
            str(source),
            "--name",
            "moved",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["version"] == 1

    from shipyard.project import Project
    from shipyard.registry import Registry

    loaded = Registry(Project.open(tmp_path)).load("moved:1")
    np.testing.assert_allclose(loaded.predict_frame(frame), model.predict(frame), rtol=1e-6)


def test_a_missing_mlflow_directory_is_one_clear_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "shipyard",
            "-C",
            str(tmp_path),
            "models",
            "import-mlflow",
            str(tmp_path / "nope"),
            "--name",
            "moved",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "nope" in proc.stderr
