"""``shipyard deploy`` / ``rollout ...``: thin commands over the rollout API, JSON for machines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from shipyard.cli import rollout as rollout_cli
from shipyard.cli.state import State
from shipyard.project import Project
from shipyard.store.endpoints import EndpointStore


def _app(root: Path) -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = State(root, (), False)

    rollout_cli.register(app)
    return app


@pytest.fixture
def cli(registered: Project):
    runner = CliRunner()
    app = _app(registered.root)

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(app, list(args))
        if ok:
            assert result.exit_code == 0, (result.output, result.exception)
        return result

    return invoke


def test_deploy_a_canary_with_steps_then_follow_and_steer_it(cli, registered: Project) -> None:
    out = cli(
        "deploy", "housing", "--strategy", "canary", "--stable", "housing@champion",
        "--canary", "housing:2", "--key", "header:x-user-id", "--step", "10",
        "--step", "pause", "--step", "analysis 5s", "--step", "50", "--json",
    )  # fmt: skip
    deployed = json.loads(out.stdout)
    assert deployed["spec"]["stable"] == "housing:1" and deployed["rollout_id"]
    status = json.loads(cli("rollout", "status", "housing", "--json").stdout)
    assert status["state"] == "running"
    assert status["steps"] == ["set_weight 10", "pause", "analysis", "set_weight 50"]
    assert status["endpoint"]["spec"]["rollout"]["steps"][2] == {"analysis": {"interval": "5s"}}
    assert "paused" in cli("rollout", "pause", "housing", "--reason", "lunch").stdout
    assert "running" in cli("rollout", "resume", "housing").stdout
    assert "aborted" in cli("rollout", "abort", "housing").stdout
    assert EndpointStore(registered.db).get("housing").spec["weight"] == 0.0
    text = cli("rollout", "status", "housing").stdout
    assert "aborted" in text and "abort" in text


def test_deploy_other_strategies_and_switch(cli, registered: Project) -> None:
    cli("deploy", "a", "--strategy", "ab", "--key", "parameter:user_id",
        "--variant", "ctl=housing:1:50", "--variant", "new=housing:2:50")  # fmt: skip
    cli("deploy", "s", "--strategy", "shadow", "--primary", "housing:1", "--shadow", "housing:2@25")
    cli("deploy", "b", "--strategy", "blue_green", "--blue", "housing:1", "--green", "housing:2")
    store = EndpointStore(registered.db)
    assert [v["weight"] for v in store.get("a").spec["variants"]] == [50.0, 50.0]
    assert store.get("s").spec["shadows"] == [{"model": "housing:2", "percent": 25.0}]
    assert "active green" in cli("rollout", "switch", "b").stdout
    assert "active blue" in cli("rollout", "switch", "b").stdout


def test_bad_input_is_a_clear_error_and_changes_nothing(cli, registered: Project) -> None:
    from shipyard.rollout.spec import EndpointSpecError

    cli("deploy", "housing", "--model", "housing:1")
    bad = cli("deploy", "housing", "--strategy", "ab", "--key", "header:x-u",
              "--variant", "a=housing:1:70", "--variant", "b=housing:2:20", ok=False)  # fmt: skip
    assert isinstance(bad.exception, EndpointSpecError)
    assert "sum to 90; they must sum to 100" in str(bad.exception)
    bad = cli("deploy", "housing", "--model", "housing:7", ok=False)
    assert "has no version 7" in str(bad.exception)
    assert EndpointStore(registered.db).get("housing").revision == 1
    missing = cli("rollout", "pause", "housing", ok=False)
    assert "no active rollout" in str(missing.exception)
