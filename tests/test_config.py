"""Settings from shipyard.yaml, SHIPYARD_* variables and --set; every bad value is
reported with its file (or variable, or --set), key, value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.config import Settings, load_settings
from shipyard.errors import ConfigError


def write(root: Path, text: str) -> Path:
    path = root / "shipyard.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load(root: Path, *overrides: str, **env: str) -> Settings:
    """Settings with an explicit, isolated environment (never the test runner's)."""
    return load_settings(root, overrides=overrides, environ=env)


def error(root: Path, *overrides: str, **env: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(root, *overrides, **env)
    assert isinstance(info.value, ValueError)
    return str(info.value)


# ---------------------------------------------------------------- defaults and files
def test_without_a_file_the_defaults_apply_under_the_project(tmp_path: Path) -> None:
    s = load(tmp_path)
    assert s.root == tmp_path.resolve()
    assert s.store_url == f"sqlite:///{tmp_path.resolve() / '.shipyard' / 'shipyard.db'}"
    assert s.artifacts_url == str(tmp_path.resolve() / ".shipyard" / "artifacts")
    assert s.runner == "local"
    assert s.steps == {} and s.pipelines == {}


def test_an_empty_file_means_the_defaults(tmp_path: Path) -> None:
    write(tmp_path, "# nothing yet\n")
    assert load(tmp_path) == load_settings(tmp_path, environ={})


def test_values_from_the_file_are_typed(tmp_path: Path) -> None:
    write(
        tmp_path,
        """
store: postgresql://shipyard@db.internal/shipyard
artifacts: s3://bucket/prefix
runner: ray
max_workers: 4
pipelines:
  housing:
    entry: pipelines/housing.py:housing
    params: {rows: 5000}
gate:
  min_delta: 0.5
  required_suites: [behavioral]
serving:
  port: 9000
""",
    )
    s = load(tmp_path)
    assert s.store_url == "postgresql://shipyard@db.internal/shipyard"
    assert s.artifacts_url == "s3://bucket/prefix"
    assert s.runner == "ray" and s.max_workers == 4
    assert s.pipelines["housing"].entry == "pipelines/housing.py:housing"
    assert s.pipelines["housing"].params == {"rows": 5000}
    assert s.gate.min_delta == 0.5 and s.gate.required_suites == ["behavioral"]
    assert s.serving.port == 9000 and s.serving.host == "127.0.0.1"


def test_relative_paths_are_relative_to_the_project_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    write(project, "store: meta/db.sqlite\nartifacts: blobs\n")
    monkeypatch.chdir(tmp_path)
    s = load(project)
    assert s.store_url == f"sqlite:///{project.resolve() / 'meta' / 'db.sqlite'}"
    assert s.artifacts_url == str(project.resolve() / "blobs")


def test_the_current_directory_is_the_default_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "max_workers: 3\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings(environ={}).max_workers == 3


def test_settings_are_frozen(tmp_path: Path) -> None:
    s = load(tmp_path)
    with pytest.raises(ValueError):
        s.runner = "ray"  # type: ignore[misc]


# ---------------------------------------------------------------- bad files
def test_invalid_yaml_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "store: a\nserving:\n  port: 8000\n port: 9000\n")
    message = error(tmp_path)
    assert str(path) in message
    assert "line 4" in message
    assert "not valid YAML" in message


def test_a_top_level_list_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "- store\n- runner\n")
    message = error(tmp_path)
    assert str(path) in message and "list" in message and "mapping" in message


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "shipyard.yaml"
    path.write_bytes(b"store: \xff\xfe\n")
    message = error(tmp_path)
    assert str(path) in message and "cannot be read" in message


def test_a_wrong_type_names_file_line_key_value_and_what_is_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, "runner: local\nserving:\n  host: 0.0.0.0\n  port: eighty\n")
    message = error(tmp_path)
    assert f"{path} line 4" in message
    assert "serving.port" in message
    assert "'eighty'" in message
    assert "valid integer" in message


def test_a_value_outside_its_choices_lists_the_choices(tmp_path: Path) -> None:
    path = write(tmp_path, "runner: rey\n")
    message = error(tmp_path)
    assert f"{path} line 1: runner" in message
    assert "'rey'" in message and "'local' or 'ray'" in message


def test_a_value_outside_its_range_says_the_range(tmp_path: Path) -> None:
    write(tmp_path, "gate:\n  alpha: 1.5\n  min_delta: -1\n")
    message = error(tmp_path)
    assert "gate.alpha" in message and "less than 1" in message and "1.5" in message
    assert "gate.min_delta" in message and "greater than or equal to 0" in message


@pytest.mark.parametrize(
    ("text", "key", "allowed"),
    [
        ("stor: x.db\n", "stor", "store"),
        ("serving:\n  prot: 8000\n", "serving.prot", "port"),
        ("gate:\n  primary: rmse\n", "gate.primary", "primary_metric"),
        ("pipelines:\n  h:\n    entry: a.py:f\n    param: {}\n", "pipelines.h.param", "params"),
    ],
)
def test_an_unknown_key_is_an_error_that_lists_the_known_ones(
    tmp_path: Path, text: str, key: str, allowed: str
) -> None:
    path = write(tmp_path, text)
    message = error(tmp_path)
    assert str(path) in message
    assert f"{key}: Extra inputs are not permitted" in message
    assert allowed in message.split("allowed:", 1)[1]


def test_a_pipeline_entry_must_name_a_function(tmp_path: Path) -> None:
    write(tmp_path, "pipelines:\n  housing:\n    entry: pipelines/housing.py\n")
    message = error(tmp_path)
    assert "pipelines.housing.entry" in message and "'pipelines/housing.py'" in message
    assert "file.py:function" in message


def test_a_missing_required_key_is_named(tmp_path: Path) -> None:
    write(tmp_path, "pipelines:\n  housing:\n    params: {rows: 1}\n")
    message = error(tmp_path)
    assert "pipelines.housing.entry: Field required" in message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    write(tmp_path, "runner: rey\nmax_workers: 0\nserving:\n  port: 70000\n")
    message = error(tmp_path)
    assert "runner" in message and "max_workers" in message and "serving.port" in message


# ---------------------------------------------------------------- environment
def test_environment_variables_override_the_file(tmp_path: Path) -> None:
    write(tmp_path, "store: a.db\nserving:\n  port: 9000\n")
    s = load(
        tmp_path,
        SHIPYARD_STORE="postgresql://u@h/db",
        SHIPYARD_SERVING__PORT="9100",
        SHIPYARD_MAX_WORKERS="3",
    )
    assert s.store_url == "postgresql://u@h/db"
    assert s.serving.port == 9100
    assert s.max_workers == 3


def test_only_the_given_environment_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_MAX_WORKERS", "7")
    assert load_settings(tmp_path, environ={}).max_workers == 2
    assert load_settings(tmp_path).max_workers == 7  # os.environ by default


def test_a_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    write(tmp_path, "serving:\n  port: 9000\n")
    message = error(tmp_path, SHIPYARD_SERVING__PORT="http")
    assert message.startswith("$SHIPYARD_SERVING__PORT: serving.port")
    assert "'http'" in message
    assert "shipyard.yaml" not in message


def test_a_stray_variable_is_named_with_the_settings_that_exist(tmp_path: Path) -> None:
    message = error(tmp_path, SHIPYARD_STOR="x.db")
    assert "$SHIPYARD_STOR" in message and "'stor' is not a setting" in message
    assert "store" in message and "step.parameter" in message


@pytest.mark.parametrize(
    "token", ["0123", "123456", "yes", "1e3", "0x1F", "a: b", "#secret", "[x]"]
)
def test_a_text_setting_keeps_exactly_what_was_written(tmp_path: Path, token: str) -> None:
    """YAML would read 0123 as 83 and yes as True; a token is text."""
    assert load(tmp_path, SHIPYARD_SERVING__TOKEN=token).serving.token == token
    assert load(tmp_path, f"serving.token={token}").serving.token == token


def test_an_empty_value_clears_an_optional_text_setting(tmp_path: Path) -> None:
    write(tmp_path, "serving:\n  token: abc\n")
    assert load(tmp_path, "serving.token=").serving.token is None
    assert load(tmp_path, SHIPYARD_SERVING__TOKEN="").serving.token is None


def test_a_store_url_with_yaml_characters_is_kept(tmp_path: Path) -> None:
    url = "postgresql://shipyard:p#ss: w@db/shipyard?sslmode=require"
    assert load(tmp_path, SHIPYARD_STORE=url).store_url == url
    assert load(tmp_path, f"store={url}").store_url == url


# ---------------------------------------------------------------- --set
def test_set_overrides_the_environment_and_the_file(tmp_path: Path) -> None:
    write(tmp_path, "max_workers: 2\n")
    assert load(tmp_path, "max_workers=5", SHIPYARD_MAX_WORKERS="3").max_workers == 5


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("gate.min_delta=0.5", 0.5),
        ("gate.min_delta=1", 1.0),
        ("gate.greater_is_better=true", True),
        ("gate.required_suites=[a, b]", ["a", "b"]),
        ("gate.required_suites=[]", []),
        ("gate.max_latency_p99_ms=", None),
        ("gate.max_latency_p99_ms=null", None),
    ],
)
def test_set_values_are_parsed_as_yaml_for_non_text_settings(
    tmp_path: Path, item: str, expected: object
) -> None:
    key = item.split("=", 1)[0].split(".")[1]
    assert getattr(load(tmp_path, item).gate, key) == expected


def test_set_keeps_equals_signs_in_the_value(tmp_path: Path) -> None:
    assert load(tmp_path, "store=postgresql://u@h/db?a=b").store == "postgresql://u@h/db?a=b"


@pytest.mark.parametrize("item", ["noequals", "=5", " =5", "a..b=1", ".a=1", "a.=1"])
def test_a_malformed_set_is_refused_with_the_form_to_use(tmp_path: Path, item: str) -> None:
    message = error(tmp_path, item)
    assert repr(item) in message or item in message


def test_a_bad_set_value_names_the_set(tmp_path: Path) -> None:
    write(tmp_path, "serving:\n  port: 9000\n")
    message = error(tmp_path, "serving.port=abc")
    assert message.startswith("--set serving.port=abc: serving.port")
    assert "'abc'" in message
    assert "shipyard.yaml" not in message


def test_set_cannot_descend_into_a_value(tmp_path: Path) -> None:
    write(tmp_path, "store: x.db\n")
    message = error(tmp_path, "store.path=y")
    assert "--set store.path=y" in message and "not a mapping" in message


def test_set_into_a_new_pipeline_without_entry_names_the_set(tmp_path: Path) -> None:
    message = error(tmp_path, "pipelines.housing.params.rows=10")
    assert message.startswith("--set pipelines.housing.params.rows=10: pipelines.housing.entry")


def test_set_a_stray_key_is_refused(tmp_path: Path) -> None:
    message = error(tmp_path, "debug=1")
    assert "--set debug=1" in message and "'debug' is not a setting" in message


# ---------------------------------------------------------------- step parameters
def test_step_parameters_come_from_the_file(tmp_path: Path) -> None:
    write(tmp_path, "steps:\n  train:\n    alpha: 0.5\n    solver: auto\n")
    s = load(tmp_path)
    assert s.step_params("train") == {"alpha": 0.5, "solver": "auto"}
    assert s.step_params("evaluate") == {}


def test_set_step_param_is_a_step_parameter(tmp_path: Path) -> None:
    write(tmp_path, "steps:\n  train:\n    alpha: 0.5\n    solver: auto\n")
    s = load(tmp_path, "train.alpha=0.7", "split.test_size=0.25", "train.layers=[64, 32]")
    assert s.step_params("train") == {"alpha": 0.7, "solver": "auto", "layers": [64, 32]}
    assert s.step_params("split") == {"test_size": 0.25}
    assert load(tmp_path, "steps.train.alpha=0.9").step_params("train")["alpha"] == 0.9


def test_environment_step_parameters(tmp_path: Path) -> None:
    s = load(tmp_path, SHIPYARD_TRAIN__ALPHA="0.25", SHIPYARD_STEPS__SPLIT__SEED="7")
    assert s.step_params("train") == {"alpha": 0.25}
    assert s.step_params("split") == {"seed": 7}


def test_step_params_returns_a_copy(tmp_path: Path) -> None:
    write(tmp_path, "steps:\n  train:\n    alpha: 0.5\n")
    s = load(tmp_path)
    s.step_params("train")["alpha"] = 99
    assert s.step_params("train") == {"alpha": 0.5}


def test_step_parameters_must_be_a_mapping_per_step(tmp_path: Path) -> None:
    path = write(tmp_path, "steps:\n  train: 0.5\n")
    message = error(tmp_path)
    assert f"{path} line 2: steps.train" in message and "dictionary" in message
