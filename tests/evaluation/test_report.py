"""EvaluationReport: standard JSON, a self-contained HTML page, and the report of a version."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from shipyard.evaluation import (
    EvaluationReport,
    ReportMetadata,
    SuiteResult,
    compare,
    evaluate,
)

from .conftest import DIGEST, Case

B = 50


@pytest.fixture(scope="module")
def classification_report(binary_case: Case) -> EvaluationReport:
    common = {"task": "classification", "dataset_digest": DIGEST, "n_bootstrap": B}
    frame = binary_case.frame.copy()
    frame.loc[0, "region"] = "<script>alert(1)</script>"  # user data must be escaped
    strong = evaluate(binary_case.model, frame, "label", slices=["region", "f0"], **common)
    weak = evaluate(binary_case.weak, frame, "label", measure=False, **common)
    meta = ReportMetadata(
        model_ref="churn:2",
        hyperparameters={"C": 1.0},
        code_version={"commit": "0123abc"},
        test_results=(SuiteResult("invariance", "whole suite", False, "1 of 4 failed"),),
    )
    return EvaluationReport(strong, compare(strong, weak, champion_ref="churn:1"), meta)


@pytest.fixture(scope="module")
def regression_report(regression_case: Case) -> EvaluationReport:
    ev = evaluate(
        regression_case.model,
        regression_case.frame,
        "y",
        task="regression",
        dataset_digest=DIGEST,
        n_bootstrap=B,
        slices=["year"],
    )
    return EvaluationReport(ev, metadata=ReportMetadata(model_ref="price:7"))


@pytest.fixture(scope="module")
def classification_html(classification_report: EvaluationReport) -> str:
    return classification_report.to_html()


@pytest.fixture(scope="module")
def regression_html(regression_report: EvaluationReport) -> str:
    return regression_report.to_html()


def test_json_is_standard_and_complete(classification_report: EvaluationReport) -> None:
    text = classification_report.to_json()
    data = json.loads(text)  # allow_nan=False on the way out: no NaN tokens
    assert data["schema"] == "shipyard.evaluation-report/1"
    assert data["model"]["ref"] == "churn:2"
    assert data["comparison"]["champion"]["ref"] == "churn:1"
    assert data["comparison"]["verdict"] == "better"
    assert len(data["evaluation"]["per_example"]["y_true"]) == data["evaluation"]["n_rows"]
    names = {a["statistic"] for a in data["assumptions"]}
    assert {"McNemar's test", "Paired t-test", "Wilcoxon signed-rank test"} <= names
    assert "Percentile bootstrap interval" in names


def test_report_round_trips_through_json(classification_report: EvaluationReport) -> None:
    again = EvaluationReport.from_dict(json.loads(classification_report.to_json()))
    assert again.comparison is not None and again.comparison.verdict == "better"
    assert again.metadata.test_results[0].passed is False
    assert again.to_dict(per_example=False) == classification_report.to_dict(per_example=False)


@pytest.mark.parametrize("which", ["classification_html", "regression_html"])
def test_html_loads_nothing_from_the_network(which: str, request: pytest.FixtureRequest) -> None:
    html = request.getfixturevalue(which)
    assert not re.search(r"https?://", html)
    assert "<script" not in html.replace("&lt;script", "")
    assert "<link" not in html and "@import" not in html
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", html)
    assert references and all(r.startswith(("data:", "#")) for r in references)
    assert all(u.startswith("data:") for u in re.findall(r"url\(\s*['\"]?([^)'\"]*)", html))
    # inside the embedded SVGs, only XML namespace names mention http, never a fetched file
    for encoded in re.findall(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", html):
        svg = base64.b64decode(encoded).decode()
        for ref in re.findall(r"""(?:href|src)\s*=\s*["']([^"']*)""", svg):
            assert ref.startswith(("#", "data:")), ref


def test_classification_page_shows_curves_tables_and_wrong_examples(
    classification_html: str,
) -> None:
    html = classification_html
    for text in (
        "ROC curve",
        "Precision-recall curve",
        "Calibration",
        "Confusion matrix",
        "Most confidently wrong examples",
        "Metrics by slice",
        "Operational statistics",
        "Significance vs champion",
        "McNemar",
        "Wilcoxon",
        "Assumptions behind the statistics",
        "0123abc",
        "invariance",
        "churn:1",
    ):
        assert text in html, text
    assert html.count("data:image/svg+xml;base64,") == 4 + 2  # 4 figures, 2 slice plots
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'class="verdict verdict-better"' in html


def test_regression_page_shows_residuals_and_largest_errors(regression_html: str) -> None:
    html = regression_html
    for text in (
        "Predicted vs actual",
        "Residuals vs predicted",
        "Residual distribution",
        "Largest errors",
        "no champion",
        "R²",
    ):
        assert text in html, text
    assert "McNemar" not in html  # no comparison, no paired tests


def test_write_chooses_the_format_by_suffix(
    regression_report: EvaluationReport, tmp_path: Path
) -> None:
    page = regression_report.write(tmp_path / "out" / "r.html")
    data = regression_report.write(tmp_path / "r.json")
    assert page.read_text().startswith("<!DOCTYPE html>")
    assert json.loads(data.read_text())["model"]["ref"] == "price:7"
