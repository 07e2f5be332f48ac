"""report_for_version and `shipyard report`: real bundles, registry and dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from shipyard.bundle import build_bundle
from shipyard.data.dataset import Dataset
from shipyard.errors import EvaluationError
from shipyard.evaluation import report_for_version
from shipyard.project import Project
from shipyard.registry.registry import Registry

from .conftest import Case


@pytest.fixture
def registered(project: Project, binary_case: Case, tmp_path: Path) -> Project:
    """churn:1 reads one weak feature and is champion; churn:2 reads all five."""
    frame = binary_case.frame
    registry = Registry(project)
    for version, columns in ((1, ["f4"]), (2, ["f0", "f1", "f2", "f3", "f4"])):
        model = LogisticRegression().fit(frame[columns], frame.label)
        bundle = build_bundle(
            model,
            tmp_path / f"b{version}",
            name="churn",
            input_example=frame[columns].head(5),
            task="classification",
            convert_onnx=False,
        )
        registry.register("churn", bundle.path, target="label")
    registry.set_alias("churn:1", "champion", actor="test", forced=True, reason="first model")
    Dataset.snapshot(frame, "churn-eval", project)
    return project


def test_report_compares_with_the_champion_on_the_same_rows(
    registered: Project, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    report = report_for_version(
        registered,
        "churn:2",
        "churn-eval",
        against="champion",
        out=out,
        slices=["region"],
        n_bootstrap=40,
    )
    digest = Dataset.load("churn-eval", registered).digest
    assert report.evaluation.dataset_digest == digest
    assert report.comparison is not None and report.comparison.champion_ref == "churn:1"
    assert report.comparison.verdict == "better"
    assert report.evaluation.operational.model_size_bytes > 0
    assert report.metadata.data_version["sha256"] == digest
    assert report.metadata.code_version["bundle sha256"]
    html = out.read_text()
    assert "churn:2" in html and "churn:1" in html and "Metrics by slice" in html


def test_comparing_a_version_with_itself_is_refused(registered: Project) -> None:
    with pytest.raises(EvaluationError, match="itself"):
        report_for_version(registered, "churn:1", "churn-eval", against="champion", n_bootstrap=0)


def test_no_dataset_anywhere_is_explained(registered: Project) -> None:
    with pytest.raises(EvaluationError, match="--data"):
        report_for_version(registered, "churn:2", n_bootstrap=0)


def test_cli_writes_html_and_prints_json(
    registered: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipyard.cli.app import app

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    args = [
        "-C",
        str(registered.root),
        "report",
        "churn:2",
        "--data",
        "churn-eval",
        "--bootstrap",
        "30",
    ]
    shown = runner.invoke(
        app, [*args, "--against", "champion", "--out", "r.html"], catch_exceptions=False
    )
    assert shown.exit_code == 0, shown.output
    assert "verdict: better" in shown.output and Path("r.html").read_text().startswith("<!DOCTYPE")
    printed = runner.invoke(app, [*args, "--json"], catch_exceptions=False)
    assert printed.exit_code == 0, printed.output
    data = json.loads(printed.output)
    assert data["comparison"] is None and "per_example" not in data["evaluation"]
    assert isinstance(pd.DataFrame(data["evaluation"]["metrics"]).value.sum(), float)


def test_the_gate_primary_metric_leads_the_report(registered: Project) -> None:
    gated = Project.open(registered.root, overrides=["gate.primary_metric=roc_auc"])
    report = report_for_version(gated, "churn:2", "churn-eval", against="champion", n_bootstrap=30)
    assert report.evaluation.headline_metric == "roc_auc"
    assert report.comparison is not None and report.comparison.headline_metric == "roc_auc"
    assert "ROC AUC" in report.comparison.verdict_detail
