"""``shipyard watch``: one pass for cron, a loop that stops on SIGTERM, job listings, clear errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import typer
from continuous_helpers import drift_alert, serve, world
from typer.testing import CliRunner

from shipyard.cli import watch as watch_cli
from shipyard.cli.state import State
from shipyard.continuous import TrainingJobStore
from shipyard.errors import ConfigError
from shipyard.project import Project
from shipyard.registry import Registry

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import typer
    from shipyard.cli import watch
    from shipyard.cli.state import State

    app = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = State(Path(sys.argv[1]), (), False)

    watch.register(app)
    app(sys.argv[2:])
    """
)


def _app(root: Path) -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = State(root, (), False)

    watch_cli.register(app)
    return app


def invoke(root: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(_app(root), ["watch", *args])


def shifted(project: Project) -> None:
    serve(project, world(200, seed=7, shift=4.0))
    drift_alert(project)


def test_once_json_runs_a_pass_and_reports_each_stage(tiny: Project) -> None:
    shifted(tiny)
    result = invoke(tiny.root, "--once", "--json")
    assert result.exit_code == 0, (result.output, result.exception)
    [model] = json.loads(result.stdout)
    assert model["model"] == "tiny" and model["stage"] == "promoted"
    assert [e["stage"] for e in model["events"]] == [
        "triggered", "dataset_built", "trained", "tested", "gated", "rolling_out", "promoted",
    ]  # fmt: skip
    assert all(e["seconds"] >= 0 for e in model["events"])
    assert Registry(tiny).get("tiny@champion").ref == "tiny:2"


def test_once_prints_each_stage_with_its_time(tiny: Project) -> None:
    shifted(tiny)
    result = invoke(tiny.root, "--once")
    assert result.exit_code == 0, (result.output, result.exception)
    lines = result.stdout.splitlines()
    assert any(" triggered: 1 drift alert(s) on tiny" in line for line in lines)
    trained = next(line for line in lines if " trained (" in line)
    assert "registered tiny:2" in trained and "s):" in trained
    assert any(" promoted (" in line and "tiny:2 is champion" in line for line in lines)
    quiet = invoke(tiny.root, "--once")
    assert quiet.stdout.strip() == "tiny: no new alerts"


def test_retrain_starts_a_job_by_hand_and_jobs_lists_it(tiny: Project) -> None:
    serve(tiny, world(200, seed=7, shift=4.0))
    result = invoke(tiny.root, "--retrain", "tiny", "--once", "--json")
    assert result.exit_code == 0, (result.output, result.exception)
    listed = invoke(tiny.root, "--jobs", "--json")
    [job] = json.loads(listed.stdout)
    assert job["trigger"]["kind"] == "manual" and job["trigger"]["actor"] == "cli"
    assert job["stage"] == "promoted" and job["details"]["candidate"] == "tiny:2"
    table = invoke(tiny.root, "--jobs")
    assert job["id"][:8] in table.stdout and "promoted" in table.stdout


def test_bad_config_and_unknown_models_are_refused_before_anything_runs(tiny: Project) -> None:
    config = tiny.root / "shipyard.yaml"
    config.write_text(config.read_text().replace("eval_share: 0.4", "eval_share: 4"))
    result = invoke(tiny.root, "--once")
    assert isinstance(result.exception, ConfigError)
    assert "continuous.tiny.training_set.eval_share: Input should be less than 1 (got 4)" in str(
        result.exception
    )
    config.write_text(config.read_text().replace("eval_share: 4", "eval_share: 0.4"))
    unknown = invoke(tiny.root, "--once", "--model", "nope")
    assert "model 'nope' is not watched" in str(unknown.exception)
    assert TrainingJobStore(tiny.db).list() == []


@pytest.mark.e2e
def test_the_loop_stops_cleanly_on_sigterm(tiny: Project, tmp_path: Path) -> None:
    script = tmp_path / "watch_app.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tiny.root), "watch", "--interval", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("watching tiny every 0.2s"), first + proc.stderr.read()
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopping after the stage in progress" in err


@pytest.mark.e2e
def test_two_watch_processes_at_once_make_one_job(tiny: Project, tmp_path: Path) -> None:
    shifted(tiny)
    script = tmp_path / "watch_app.py"
    script.write_text(SCRIPT)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(tiny.root), "watch", "--once", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    [job] = TrainingJobStore(tiny.db).list("tiny")
    assert job.stage == "promoted"
    assert [v.version for v in Registry(tiny).versions("tiny")] == [1, 2]
    notes = [json.loads(o[0])[0]["note"] for o in outs]
    others = [n for n in notes if not n.endswith("promoted")]
    assert len(others) == 1, notes
    assert "is being advanced by" in others[0] or others[0] == "no new alerts", notes
