"""``shipyard models list|show`` and ``shipyard promote`` through the real CLI app."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from shipyard.cli.app import app
from shipyard.data import Dataset
from shipyard.registry import Registry

runner = CliRunner()


def _run(root: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--project", str(root), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout


@pytest.fixture
def root(registry: Registry, bundles: dict[str, Path], eval_rows: pd.DataFrame) -> Path:
    root = registry.project.root
    (root / "shipyard.yaml").write_text("gate:\n  evaluation_dataset: housing-eval\n")
    Dataset.snapshot(eval_rows, "housing-eval", registry.project)
    for kind in ("champion", "better", "worse"):
        registry.register("housing", bundles[kind], tags={"kind": kind})
    return root


def test_models_list_and_show_as_json(root: Path) -> None:
    code, out = _run(root, "models", "list", "--json")
    assert code == 0
    (housing,) = json.loads(out)
    assert (housing["name"], housing["latest_version"], housing["version_count"]) == (
        "housing",
        3,
        3,
    )

    code, out = _run(root, "models", "show", "housing", "--json")
    shown = json.loads(out)
    assert [v["version"] for v in shown["versions"]] == [1, 2, 3]
    assert shown["versions"][1]["tags"] == {"kind": "better"}
    assert shown["history"] == []

    code, out = _run(root, "models", "show", "housing:2", "--json")
    assert json.loads(out)["version"] == 2


def test_promote_moves_the_champion_and_history_shows_it(root: Path) -> None:
    code, out = _run(root, "promote", "housing:1", "--actor", "ana")
    assert code == 0 and "promoted to 'champion'" in out
    code, out = _run(root, "promote", "housing:2", "--actor", "bo", "--reason", "retrain", "--json")
    report = json.loads(out)
    assert code == 0 and report["outcome"] == "promoted"
    assert [c["name"] for c in report["criteria"]] == ["improvement", "significance"]

    code, out = _run(root, "models", "show", "housing", "--json")
    history = json.loads(out)["history"]
    assert [(e["actor"], e["to_version"], e["reason"]) for e in history] == [
        ("ana", 1, None),
        ("bo", 2, "retrain"),
    ]
    code, out = _run(root, "models", "show", "housing")
    assert "alias history" in out and "retrain" in out


def test_a_refused_promotion_prints_each_failing_criterion_and_exits_1(root: Path) -> None:
    _run(root, "promote", "housing:1", "--actor", "ana")
    code, out = _run(root, "promote", "housing:3", "--actor", "bo")
    assert code == 1
    assert "was not promoted to" in out and "improvement" in out and "fail" in out
    code, out = _run(root, "promote", "housing:3", "--json")
    failed = [c for c in json.loads(out)["criteria"] if not c["passed"]]
    assert {c["name"] for c in failed} == {"improvement", "significance"}
    assert all(c["measured"] is not None and c["threshold"] is not None for c in failed)

    code, out = _run(root, "promote", "housing:3", "--force", "--reason", "hotfix", "--json")
    assert code == 0 and json.loads(out)["outcome"] == "forced"


def test_bad_references_fail_with_a_clear_message(root: Path) -> None:
    from shipyard.registry import AliasNotFoundError, InvalidReferenceError, VersionNotFoundError

    with pytest.raises(VersionNotFoundError, match="known versions: 1, 2, 3"):
        _run(root, "models", "show", "housing:9")
    with pytest.raises(AliasNotFoundError):
        _run(root, "promote", "housing@nope")
    with pytest.raises(InvalidReferenceError):
        _run(root, "models", "show", "housing:x")


def test_the_entry_point_turns_a_bad_reference_into_one_line(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from shipyard.cli.app import main

    monkeypatch.setattr("sys.argv", ["shipyard", "--project", str(root), "models", "show", "nope"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "model 'nope' is not registered" in err and "known models: housing" in err
