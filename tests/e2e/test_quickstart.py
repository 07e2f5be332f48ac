"""The quickstart, the whole loop on the shipped example, as a newcomer runs it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from shipyard.examples.quickstart import STAGES, run_quickstart
from shipyard.project import Project
from shipyard.registry import Registry
from shipyard.store.runs import RunStore


@pytest.mark.e2e
def test_quickstart_runs_every_stage_and_leaves_a_consistent_project(tmp_path: Path) -> None:
    out = io.StringIO()
    qs = run_quickstart(tmp_path / "qs", Console(file=out, width=120))
    assert [s.name for s in qs.stages] == [name for name, _ in STAGES]
    text = out.getvalue()
    assert "all 6 steps were cache hits" in text
    assert "promoted to champion through the gate" in text
    assert "fails more-bathrooms" in text
    assert "reached 100% on its own" in text
    assert "rolled back to housing:2 automatically" in text
    recovery = qs.notes["recovery"]
    assert (
        recovery["rmse"][1] < recovery["rmse"][0]
    )  # the gated metric recovers on new shifted rows

    project = Project.open(tmp_path / "qs")
    registry = Registry(project)
    champion = registry.get("housing@champion")
    assert champion.version == 4  # retrained on the shifted traffic; never the broken :3
    moves = registry.history("housing")
    assert [m.to_version for m in moves if m.alias == "champion"] == [1, 2, 4]
    runs = RunStore(project.db).list()
    assert {r.status for r in runs} == {"succeeded"}
    for report in ("baseline.html", "candidate-vs-champion.html"):
        html = (tmp_path / "qs" / "reports" / report).read_text()
        assert "data:image/svg+xml;base64," in html  # figures are inline
        assert "http://" not in html and "https://" not in html  # nothing loads from a network
