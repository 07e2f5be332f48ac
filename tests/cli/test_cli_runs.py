"""The CLI as a user meets it: a real `python -m shipyard` process per command."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TINY = Path(__file__).parents[1] / "resources" / "projects" / "tiny"


def shipyard(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "shipyard", "-C", str(root), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    shutil.copy(TINY / "flow.py", tmp_path / "flow.py")
    (tmp_path / "shipyard.yaml").write_text(
        "pipelines:\n  classify:\n    entry: flow.py:classify\n    params: {rows: 300}\n"
    )
    return tmp_path


def test_run_list_show_and_compare(tiny: Path) -> None:
    shipyard(tiny, "run", "classify")
    shipyard(tiny, "run", "classify", "--set", "fit.c=0.05")
    runs = json.loads(shipyard(tiny, "runs", "list", "--json").stdout)
    assert len(runs) == 2
    newest, oldest = runs
    for r in runs:
        assert set(r) >= {"id", "status", "params", "metrics", "git_commit", "datasets"}
        assert r["status"] == "succeeded"
        assert r["params"]["rows"] == 300
    assert newest["cached_steps"] == ["make_data", "split"]
    shown = json.loads(shipyard(tiny, "runs", "show", newest["id"][:6], "--json").stdout)
    assert [s["status"] for s in shown["steps"]] == ["cached", "cached", "succeeded", "succeeded"]
    diff = json.loads(
        shipyard(tiny, "runs", "compare", oldest["id"], newest["id"], "--json").stdout
    )
    changed = {(r["section"], r["key"]) for r in diff["rows"] if r["changed"]}
    assert ("params", "fit.c") in changed
    assert ("params", "rows") not in changed
    text = shipyard(tiny, "runs", "compare", oldest["id"], newest["id"]).stdout
    assert "fit.c" in text and "≠" in text


def test_run_by_file_reference_and_failed_step_exit_code(tiny: Path) -> None:
    ok = shipyard(tiny, "run", "flow.py:classify", "--json")
    assert json.loads(ok.stdout)["status"] == "succeeded"
    failed = shipyard(tiny, "--set", "score.fail=true", "run", "classify", check=False)
    assert failed.returncode == 1
    assert "scoring was told to fail" in failed.stdout


@pytest.mark.parametrize(
    ("files", "args", "expected"),
    [
        (
            {"shipyard.yaml": "runner: spark\n"},
            ["runs", "list"],
            "runner: Input should be 'local' or 'ray'",
        ),
        ({"shipyard.yaml": "store: [1, 2\n"}, ["runs", "list"], "not valid YAML"),
        (
            {"shipyard.yaml": "colour: blue\n"},
            ["runs", "list"],
            "colour: Extra inputs are not permitted",
        ),
        ({}, ["run", "missing.py:flow"], "does not exist"),
        ({}, ["run", "nothing"], "no pipeline named 'nothing'"),
        ({}, ["runs", "show", "feedbeef"], "run 'feedbeef' not found"),
        ({}, ["run", "classify", "--set", "nodots"], "not of the form key.path=value"),
    ],
)
def test_bad_input_is_one_clear_line_without_traceback(
    tmp_path: Path, files: dict[str, str], args: list[str], expected: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    proc = shipyard(tmp_path, *args, check=False)
    assert proc.returncode != 0
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) <= 3


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    (tmp_path / "shipyard.yaml").write_text("runner: spark\n")
    proc = shipyard(tmp_path, "--debug", "runs", "list", check=False)
    assert "Traceback" in proc.stderr


def test_init_scaffolds_the_housing_template(tmp_path: Path) -> None:
    target = tmp_path / "proj"
    shipyard(tmp_path, "init", str(target))
    assert (target / "shipyard.yaml").is_file()
    assert (target / "pipeline.py").is_file()
    again = shipyard(tmp_path, "init", str(target), check=False)
    assert again.returncode != 0 and "is not empty" in again.stderr


def test_help_lists_the_commands(tmp_path: Path) -> None:
    out = shipyard(tmp_path, "--help").stdout
    for command in ("run", "runs", "init", "quickstart"):
        assert command in out
