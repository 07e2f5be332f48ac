"""Deploying routing from outside the server: validated, pinned, stored; bad input changes nothing."""

from __future__ import annotations

import pytest

from shipyard.config import load_settings
from shipyard.project import Project
from shipyard.rollout.deploy import deploy, seed, switch
from shipyard.rollout.spec import EndpointSpecError
from shipyard.store.endpoints import EndpointStore
from shipyard.store.rollouts import RolloutActiveError, RolloutStore


def test_deploy_pins_aliases_to_versions(registered: Project) -> None:
    result = deploy(registered, "housing", {"strategy": "single", "model": "housing@champion"})
    assert result.spec == {"strategy": "single", "model": "housing:1"} and result.revision == 1
    assert EndpointStore(registered.db).get("housing").spec["model"] == "housing:1"


def test_a_canary_with_steps_starts_its_rollout(registered: Project) -> None:
    raw = {
        "strategy": "canary", "stable": "housing@champion", "canary": "housing@latest",
        "rollout": {"steps": [{"set_weight": 10}, {"analysis": {}}, {"set_weight": 100}]},
    }  # fmt: skip
    result = deploy(registered, "housing", raw)
    assert result.rollout_id is not None
    (active,) = RolloutStore(registered.db).active("housing")
    assert active.id == result.rollout_id and active.spec["canary"] == "housing:3"
    with pytest.raises(RolloutActiveError):
        deploy(registered, "housing", {"strategy": "single", "model": "housing:2"})


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"strategy": "single", "model": "housing:9"}, "has no version 9"),
        ({"strategy": "single", "model": "nothing:1"}, "model 'nothing' is not registered"),
        (
            {
                "strategy": "canary",
                "stable": "housing:1",
                "canary": "housing:2",
                "weight": 10,
                "segment": {"field": "feature:region", "values": ["VN"]},
            },
            "no input 'region'",
        ),
        (
            {
                "strategy": "canary",
                "stable": "housing:1",
                "canary": "housing:3",
                "weight": 10,
                "key": "feature:x2",
            },
            r"canary \(housing:3\) has no input 'x2'",
        ),
        (
            {
                "strategy": "ab",
                "key": "header:x-user-id",
                "variants": [
                    {"name": "a", "model": "housing:1", "weight": 60},
                    {"name": "b", "model": "housing:2", "weight": 60},
                ],
            },
            "sum to 120",
        ),
    ],
)
def test_bad_deploys_are_refused_and_the_last_good_routing_stays(
    registered: Project, raw: dict, needle: str
) -> None:
    deploy(registered, "housing", {"strategy": "single", "model": "housing:1"})
    with pytest.raises(EndpointSpecError, match=needle):
        deploy(registered, "housing", raw)
    store = EndpointStore(registered.db)
    assert store.get("housing").spec == {"strategy": "single", "model": "housing:1"}
    assert store.get("housing").revision == 1


def test_blue_green_switches_and_switches_back(registered: Project) -> None:
    deploy(
        registered, "housing", {"strategy": "blue_green", "blue": "housing:1", "green": "housing:2"}
    )
    assert switch(registered, "housing").spec["active"] == "green"
    assert switch(registered, "housing").spec["active"] == "blue"
    deploy(registered, "other", {"strategy": "single", "model": "housing:1"})
    with pytest.raises(EndpointSpecError, match="not blue_green"):
        switch(registered, "other")


def test_shipyard_yaml_endpoints_seed_the_store_once(registered: Project) -> None:
    (registered.root / "shipyard.yaml").write_text(
        "endpoints:\n"
        "  housing:\n"
        "    strategy: shadow\n"
        "    primary: housing@champion\n"
        "    shadows: [{model: housing:2, percent: 50}]\n"
    )
    project = Project(load_settings(registered.root, environ={}))
    (done,) = seed(project)
    assert done.spec["primary"] == "housing:1" and done.spec["shadows"][0]["model"] == "housing:2"
    assert seed(project) == []  # the store wins from now on


def test_a_bad_shipyard_yaml_endpoint_names_the_file_and_key(registered: Project) -> None:
    (registered.root / "shipyard.yaml").write_text(
        "endpoints:\n  housing:\n    strategy: canary\n    stable: housing:1\n"
        "    canary: housing:2\n    weight: 150\n"
    )
    project = Project(load_settings(registered.root, environ={}))
    with pytest.raises(EndpointSpecError, match=r"shipyard.yaml endpoints.housing: weight"):
        seed(project)
    assert EndpointStore(project.db).get("housing") is None
