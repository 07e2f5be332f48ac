"""The monitoring report: built from stored events, rendered self-contained, shown by the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from monitoring_helpers import make_event, reference_frame
from typer.testing import CliRunner

from shipyard.cli import monitor as monitor_cli
from shipyard.cli.app import app as cli_app
from shipyard.data.profile import profile_frame
from shipyard.errors import MonitoringError
from shipyard.monitoring.drift import ReferenceMissingError
from shipyard.monitoring.events import event_row
from shipyard.monitoring.monitor import bundle_profile
from shipyard.monitoring.render import render_html
from shipyard.monitoring.report import WindowSpec, build_report, parse_window
from shipyard.project import Project
from shipyard.store.events import EventStore, ResourceLog

if "monitor" not in {c.name for c in cli_app.registered_commands}:
    monitor_cli.register(cli_app)  # the lead mounts it in cli/app.py


@pytest.fixture
def served(project: Project, tmp_path: Path) -> Path:
    """Project with 600 stored events (the last 300 with area shifted) and a profile file."""
    store = EventStore(project.db)
    rows = []
    for i in range(600):
        area = float(np.random.default_rng(i).uniform(30, 300)) + (150.0 if i >= 300 else 0.0)
        rows.append(event_row(make_event(i, at=1_000_000.0 + i, area=area)))
    store.write(rows)
    for r in rows[:290:5] + rows[300::5]:
        store.record_outcome(r["request_id"], "label", float(r["outputs"]["prediction"][0]))
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile_frame(reference_frame()).to_dict()))
    ResourceLog(project.root / ".shipyard/monitoring/resources.jsonl").append(
        {"at": 1_000_100.0, "cpu_ratio": 0.4, "rss_bytes": 2.0e8, "threads": 9}
    )
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1000", WindowSpec(rows=1000)), ("30s", WindowSpec(seconds=30)), ("15m", WindowSpec(seconds=900)),
     ("2h", WindowSpec(seconds=7200)), ("1d", WindowSpec(seconds=86400)), (None, WindowSpec(rows=500))],
)  # fmt: skip
def test_parse_window(text: str | None, expected: WindowSpec) -> None:
    assert parse_window(text, 500) == expected


@pytest.mark.parametrize("text", ["0", "-5", "1.5", "10w", "abc", ""])
def test_parse_window_refuses_other_spellings(text: str) -> None:
    with pytest.raises(MonitoringError, match="window"):
        parse_window(text)


def test_report_names_the_drifted_feature_and_scores_outcomes(
    project: Project, served: Path
) -> None:
    report = build_report(
        project, "housing", window=WindowSpec(rows=300), reference=str(served), now=1_000_700.0
    )
    assert report.drift.drifted_features == ["area"]
    assert report.drift.window.rows == 300 and report.drift.window.start == 1_000_300.0
    assert report.drift.outputs and report.drift.drifted_outputs == ["prediction"]
    assert report.drift.multivariate is not None and report.drift.multivariate.drifted
    assert report.performance is not None and not report.performance.degraded
    assert report.performance.current["mae"] == pytest.approx(0.0, abs=1e-3)
    assert sum(b["requests"] for b in report.latency) == 600
    assert report.resources[0]["cpu_ratio"] == 0.4
    data = json.loads(json.dumps(report.to_dict()))
    assert data["drift"]["drifted_features"] == ["area"]


def test_report_by_time_window(project: Project, served: Path) -> None:
    report = build_report(
        project, "housing", window=WindowSpec(seconds=100), reference=str(served), now=1_000_600.0
    )
    assert report.drift.window.rows == 100


def test_report_without_a_reference_profile_says_so(project: Project) -> None:
    EventStore(project.db).write([event_row(make_event(i, at=10.0 + i)) for i in range(50)])
    report = build_report(project, "housing", window=WindowSpec(rows=25), now=100.0)
    assert report.drift.features == ()
    assert any("no reference profile for housing:1" in n for n in report.notes)


def test_report_of_an_endpoint_without_events_is_a_clear_error(project: Project) -> None:
    with pytest.raises(MonitoringError, match="endpoint 'nobody' has no prediction events"):
        build_report(project, "nobody")


def test_bundle_profile_reads_the_registered_version(project: Project, tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    from shipyard.bundle import build_bundle
    from shipyard.registry import Registry

    frame = reference_frame(200)[["rooms", "area"]]
    model = LinearRegression().fit(frame, frame["area"] * 2)
    profile = profile_frame(frame)
    build_bundle(model, tmp_path / "b1", name="housing", input_example=frame.head(5),
                 profile=profile.to_dict(), convert_onnx=False)  # fmt: skip
    build_bundle(
        model, tmp_path / "b2", name="housing", input_example=frame.head(6), convert_onnx=False
    )
    registry = Registry(project)
    v1 = registry.register("housing", tmp_path / "b1")
    v2 = registry.register("housing", tmp_path / "b2")
    assert bundle_profile(project, "housing", v1.version) == profile
    with pytest.raises(ReferenceMissingError, match=r"housing:2: its bundle has no profile\.json"):
        bundle_profile(project, "housing", v2.version)
    with pytest.raises(ReferenceMissingError, match="cannot be opened"):
        bundle_profile(project, "housing", 99)


def test_html_report_is_self_contained_and_shows_each_feature(
    project: Project, served: Path
) -> None:
    report = build_report(
        project, "housing", window=WindowSpec(rows=300), reference=str(served), now=1_000_700.0
    )
    html = render_html(report)
    assert "<svg" in html and html.count("<svg") >= 6  # 3 inputs, 1 output, latency, resources
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<script" not in html
    for name in ("rooms", "area", "region", "prediction"):
        assert name in html
    assert "drift detected" in html


def test_cli_monitor_json_and_html(project: Project, served: Path, tmp_path: Path) -> None:
    out = tmp_path / "r" / "drift.html"
    runner = CliRunner()
    args = [
        "-C",
        str(project.root),
        "monitor",
        "housing",
        "--window",
        "300",
        "--reference",
        str(served),
    ]
    result = runner.invoke(cli_app, [*args, "--json", "--report", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["drift"]["drifted_features"] == ["area"] and data["report_file"] == str(out)
    assert out.read_text().startswith("<!doctype html>")
    shown = runner.invoke(cli_app, args)
    assert shown.exit_code == 0 and "drift detected" in shown.output and "area" in shown.output
    failing = runner.invoke(cli_app, [*args, "--fail-on-drift"])
    assert failing.exit_code == 1


def test_cli_monitor_bad_window_is_a_usage_error(project: Project, served: Path) -> None:
    result = CliRunner().invoke(
        cli_app, ["-C", str(project.root), "monitor", "housing", "--window", "ten"]
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, MonitoringError)
