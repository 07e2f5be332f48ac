"""The continuous: section: a valid entry parses with its defaults; a bad one is named by key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard.config import load_settings
from shipyard.continuous import parse_continuous
from shipyard.errors import ConfigError

BASE = {"pipelines": {"housing": {"entry": "pipeline.py:housing"}}}


def parse(tmp_path: Path, continuous: Any) -> dict[str, Any]:
    (tmp_path / "shipyard.yaml").write_text(yaml.safe_dump({**BASE, "continuous": continuous}))
    return parse_continuous(load_settings(tmp_path))


def problem(tmp_path: Path, continuous: Any) -> str:
    with pytest.raises(ConfigError) as info:
        parse(tmp_path, continuous)
    return str(info.value)


def test_a_full_entry_parses_with_durations_in_words(tmp_path: Path) -> None:
    specs = parse(tmp_path, {"housing": {
        "pipeline": "housing", "endpoint": "housing-prod",
        "triggers": {"performance": False, "schedule_s": "7d"},
        "training_set": {"reference": "housing-raw", "reference_share": 0.3, "max_events": 5000,
                         "min_labelled": 200, "eval_share": 0.25, "target": "price"},
        "rollout": {"steps": [{"set_weight": 5}, {"pause": "30s"}, {"analysis": {"count": 2}},
                              {"set_weight": 100}]},
        "cooldown_s": "2h",
    }})  # fmt: skip
    spec = specs["housing"]
    assert spec.model == "housing" and spec.endpoint == "housing-prod"
    assert spec.dataset_param == "dataset" and spec.max_attempts == 3
    assert spec.triggers.schedule_s == 7 * 86400 and spec.cooldown_s == 7200
    assert spec.triggers.alert_kinds == ("drift", "output_drift", "multivariate_drift")
    assert spec.training_set.on_insufficient == "wait" and spec.training_set.outcome == "label"
    assert spec.rollout is not None and [s.describe() for s in spec.rollout.steps] == [
        "set_weight 5", "pause 30s", "analysis", "set_weight 100",
    ]  # fmt: skip


def test_defaults_give_a_progressive_canary_and_null_gives_none(tmp_path: Path) -> None:
    specs = parse(tmp_path, {
        "housing": {"pipeline": "housing", "endpoint": "housing"},
        "other": {"pipeline": "housing", "endpoint": "other", "rollout": None,
                  "training_set": {"reference": "other-raw"}},
    })  # fmt: skip
    steps = specs["housing"].rollout.steps  # type: ignore[union-attr]
    assert [s.describe() for s in steps] == [
        "set_weight 10", "analysis", "set_weight 50", "analysis", "set_weight 100",
    ]  # fmt: skip
    assert specs["other"].rollout is None
    assert specs["housing"].training_set.share == 0.0  # no reference: recent rows only
    assert specs["other"].training_set.share == 0.5
    assert parse(tmp_path, {}) == {}


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"pipeline": "housing", "endpoint": "h", "training_set": {"reference": "r", "eval_share": 1.5}},
         "continuous.housing.training_set.eval_share: Input should be less than 1 (got 1.5)"),
        ({"pipeline": "housing", "endpoint": "h", "trigers": {}},
         "continuous.housing.trigers: unknown key; allowed: pipeline, endpoint, dataset_param, triggers"),
        ({"pipeline": "housing", "endpoint": "h", "triggers": {"drfit": True}},
         "continuous.housing.triggers.drfit: unknown key; allowed: drift, performance, schedule_s"),
        ({"pipeline": "housing"}, "continuous.housing.endpoint: required, and not given"),
        ({"pipeline": "nope", "endpoint": "h", "training_set": {"reference": "r"}},
         "continuous.housing.pipeline: 'nope' is not a pipeline in pipelines: (known: housing)"),
        ({"pipeline": "housing", "endpoint": "h", "training_set": {"reference_share": 0.4}},
         "continuous.housing.training_set: reference_share is more than 0 but no reference dataset is named; set reference"),
        ({"pipeline": "housing", "endpoint": "h", "training_set": {"reference": "r"},
          "triggers": {"schedule_s": "soon"}},
         "continuous.housing.triggers.schedule_s: 'soon' is not a duration; write e.g. 30s, 2m, 6h or 7d"),
        ({"pipeline": "housing", "endpoint": "h", "training_set": {"reference": "r"},
          "rollout": {"steps": [{"set_weight": 150}]}},
         "continuous.housing.rollout.steps.0.weight: Input should be less than or equal to 100"),
        ({"pipeline": "housing", "endpoint": "h", "training_set": {"reference": "r"},
          "rollout": {"steps": [{"set_segment": ["VN"]}]}},
         "no segment.field says what to match"),
        ({"pipeline": "housing", "endpoint": "h", "training_set": {"reference": "r", "on_insufficient": "cry"}},
         "continuous.housing.training_set.on_insufficient: Input should be 'wait' or 'fail' (got 'cry')"),
        ("housing", "continuous.housing: must be a mapping (pipeline:, endpoint:, ...), not str"),
    ],
)  # fmt: skip
def test_a_bad_entry_is_refused_naming_the_key(tmp_path: Path, entry: Any, expected: str) -> None:
    message = problem(tmp_path, {"housing": entry})
    assert expected in message, message
    assert message.startswith("shipyard.yaml: ")


def test_a_bad_model_name_and_every_problem_are_reported_at_once(tmp_path: Path) -> None:
    message = problem(tmp_path, {
        "bad name!": {"pipeline": "housing", "endpoint": "h", "training_set": {"reference": "r"}},
        "other": {"pipeline": "housing"},
    })  # fmt: skip
    assert "continuous.bad name!.model: " in message
    assert "continuous.other.endpoint: required, and not given" in message
