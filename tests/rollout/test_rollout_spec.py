"""Endpoint specs: every strategy parses, round-trips, and bad input names file and key."""

from __future__ import annotations

import pytest

from shipyard.rollout.spec import (
    ABSpec,
    CanarySpec,
    EndpointSpecError,
    ShadowSpec,
    SingleSpec,
    dump_endpoint,
    parse_duration,
    parse_endpoint,
    pin,
)

CANARY = {
    "strategy": "canary",
    "stable": "housing@champion",
    "canary": "housing:4",
    "weight": 10,
    "key": "header:x-user-id",
    "segment": {"field": {"feature": "region"}, "values": ["VN"]},
    "rollout": {
        "steps": [
            {"set_weight": 5},
            {"pause": "30s"},
            {"analysis": {"interval": "2s", "count": 2}},
            {"set_segment": ["VN", "TH"]},
            {"set_segment": None},
            {"pause": None},
            {"set_weight": 100},
        ],
        "analysis": {"min_samples": 20},
    },
}


@pytest.mark.parametrize(
    "raw",
    [
        {"strategy": "single", "model": "housing:3"},
        "housing@champion",
        {"policy": "single", "model": "housing"},
        CANARY,
        {
            "strategy": "ab",
            "key": "parameter:user_id",
            "variants": [
                {"name": "a", "model": "housing:3", "weight": 50},
                {"name": "b", "model": "housing:4", "weight": 30},
                {"name": "c", "model": "housing:5", "weight": 20},
            ],
        },
        {"strategy": "shadow", "primary": "housing:3", "shadows": [{"model": "housing:4"}]},
        {"strategy": "blue_green", "blue": "housing:3", "green": "housing:4", "active": "green"},
    ],
)
def test_every_strategy_round_trips_through_its_stored_form(raw: object) -> None:
    spec = parse_endpoint("housing", raw)
    assert parse_endpoint("housing", dump_endpoint(spec)) == spec


def test_canary_steps_read_like_argo_rollouts() -> None:
    spec = parse_endpoint("housing", CANARY)
    assert isinstance(spec, CanarySpec) and spec.rollout is not None
    kinds = [s.describe() for s in spec.rollout.steps]
    assert kinds == [
        "set_weight 5", "pause 30s", "analysis", "set_segment VN,TH", "set_segment everyone",
        "pause", "set_weight 100",
    ]  # fmt: skip
    step = spec.rollout.analysis_for(spec.rollout.steps[2])
    assert (step.interval, step.count, step.min_samples) == (2.0, 2, 20)
    assert str(spec.key) == "header:x-user-id" and str(spec.segment.field) == "feature:region"


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (
            {
                "strategy": "ab",
                "key": "header:x-user-id",
                "variants": [
                    {"name": "a", "model": "m:1", "weight": 50},
                    {"name": "b", "model": "m:2", "weight": 40},
                ],
            },
            "sum to 90; they must sum to 100",
        ),
        ({"strategy": "canary", "stable": "m:1", "canary": "m:2", "weight": 120}, "weight"),
        ({"strategy": "canary", "stable": "m:1", "canary": "../etc", "weight": 5}, "canary"),
        ({"strategy": "rainbow", "model": "m:1"}, "strategy: 'rainbow' is unknown"),
        ({"strategy": "single", "model": "m:1", "colour": "red"}, "colour: unknown key"),
        ({"strategy": "canary", "stable": "m:1", "canary": "m:2", "key": "cookie:x"}, "key"),
        (
            {
                "strategy": "canary",
                "stable": "m:1",
                "canary": "m:2",
                "rollout": {"steps": [{"set_segment": ["VN"]}]},
            },
            "segment.field",
        ),
        (
            {
                "strategy": "canary",
                "stable": "m:1",
                "canary": "m:2",
                "rollout": {"steps": [{"set_weight": 5, "pause": "1s"}]},
            },
            "exactly one",
        ),
        (
            {
                "strategy": "canary",
                "stable": "m:1",
                "canary": "m:2",
                "rollout": {"steps": [{"pause": "soon"}]},
            },
            "not a duration",
        ),
    ],
)
def test_bad_specs_name_where_they_came_from_and_the_key(raw: dict, needle: str) -> None:
    with pytest.raises(EndpointSpecError) as info:
        parse_endpoint("housing", raw, where="shipyard.yaml endpoints.housing")
    text = str(info.value)
    assert text.startswith("shipyard.yaml endpoints.housing: ")
    assert needle in text
    assert isinstance(info.value, ValueError)


def test_a_bad_endpoint_name_is_refused() -> None:
    with pytest.raises(EndpointSpecError, match="endpoint name"):
        parse_endpoint("../x", {"strategy": "single", "model": "m:1"})


def test_durations_read_units() -> None:
    assert [parse_duration(v) for v in ("30s", "2m", "1h", "500ms", 3, "1.5")] == [
        30.0, 120.0, 3600.0, 0.5, 3.0, 1.5,
    ]  # fmt: skip
    with pytest.raises(ValueError):
        parse_duration("-1s")


def test_pin_replaces_each_roles_reference() -> None:
    ab = parse_endpoint(
        "e",
        {
            "strategy": "ab", "key": "header:x-user-id",
            "variants": [{"name": "a", "model": "m@champion", "weight": 50},
                         {"name": "b", "model": "m@latest", "weight": 50}],
        },
    )  # fmt: skip
    pinned = pin(ab, {"a": "m:3", "b": "m:4"})
    assert isinstance(pinned, ABSpec)
    assert [v.model for v in pinned.variants] == ["m:3", "m:4"]
    shadow = pin(
        parse_endpoint("e", {"strategy": "shadow", "primary": "m", "shadows": [{"model": "n"}]}),
        {"primary": "m:1", "shadow": "n:2"},
    )
    assert isinstance(shadow, ShadowSpec) and shadow.primary == "m:1"
    assert shadow.shadows[0].model == "n:2"
    single = pin(parse_endpoint("e", "m@champion"), {"default": "m:7"})
    assert isinstance(single, SingleSpec) and single.model == "m:7"
