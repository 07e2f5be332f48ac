"""The rollout controller: walks steps, rolls bad canaries back fast, promotes good ones."""

from __future__ import annotations

import numpy as np
import pytest
from rollout_helpers import Behaviour, Clock, traffic

from shipyard.project import Project
from shipyard.rollout.analysis import StoreMetricsSource
from shipyard.rollout.controller import NoActiveRolloutError, RolloutController
from shipyard.rollout.spec import CanarySpec, dump_endpoint, parse_endpoint
from shipyard.store.endpoints import EndpointStore
from shipyard.store.events import EventStore
from shipyard.store.rollouts import RolloutActiveError

INTERVAL = 5.0


def _spec(steps: list, **analysis) -> CanarySpec:
    spec = parse_endpoint(
        "housing",
        {
            "strategy": "canary", "stable": "housing:1", "canary": "housing:2",
            "rollout": {
                "steps": steps,
                "analysis": {"interval": INTERVAL, "count": 3, "min_samples": 60, **analysis},
            },
        },
    )  # fmt: skip
    assert isinstance(spec, CanarySpec)
    return spec


class Harness:
    """A project, a controller on a fake clock, and traffic written to the event store."""

    def __init__(self, project: Project, spec: CanarySpec, canary: Behaviour) -> None:
        self.clock = Clock()
        self.events = EventStore(project.db)
        self.endpoints = EndpointStore(project.db)
        self.controller = RolloutController(
            project.db, StoreMetricsSource(self.events), clock=self.clock
        )
        self.canary = canary
        self.rng = np.random.default_rng(7)
        self.endpoints.put("housing", dump_endpoint(spec), actor="test")
        self.rollout = self.controller.start("housing", spec)

    def weight(self) -> float:
        spec = self.endpoints.get("housing").spec
        return float(spec.get("weight", 100.0 if spec["strategy"] == "single" else 0.0))

    def second(self, rate: float = 80) -> None:
        """One second of traffic at the endpoint's current weight, then a controller tick."""
        obs = traffic(
            self.rng, start=self.clock.now, seconds=1.0, rate=rate,
            canary_share=self.weight() / 100, canary=self.canary, prefix=f"t{self.clock.now:.0f}",
        )  # fmt: skip
        self.events.write([
            {
                "request_id": o.request_id, "at": o.at, "endpoint": "housing",
                "model_name": "housing", "model_version": 2 if o.variant == "canary" else 1,
                "variant": o.variant, "key": o.key, "inputs": dict(o.inputs),
                "outputs": dict(o.outputs), "latency_ms": o.latency_ms, "status": o.status,
            }
            for o in obs
        ])  # fmt: skip
        self.clock.advance(1.0)
        self.controller.tick()

    def state(self) -> str:
        return self.controller.status("housing").rollout.state


@pytest.mark.parametrize(
    ("canary", "criterion"),
    [
        (Behaviour(error_rate=0.3), "error_rate"),
        (Behaviour(slow=2.0), "latency"),
        (Behaviour(shift=150.0), "prediction_shift"),
    ],
    ids=["errors", "2x-slower", "shifted-outputs"],
)
def test_a_bad_canary_is_rolled_back_within_two_intervals(
    project: Project, canary: Behaviour, criterion: str
) -> None:
    h = Harness(project, _spec([{"set_weight": 50}, {"analysis": {}}, {"set_weight": 100}]), canary)
    h.second()  # set_weight 50 happens on the first tick
    assert h.weight() == 50.0
    began = h.clock.now
    while h.state() == "running" and h.clock.now - began <= 3 * INTERVAL:
        h.second()
    status = h.controller.status("housing")
    assert status.rollout.state == "rolled_back"
    assert h.clock.now - began <= 2 * INTERVAL + 1.0
    assert h.weight() == 0.0  # every request back on stable
    fail = status.decisions[-1]
    assert (fail.action, fail.outcome) == ("analysis", "fail")
    assert criterion in fail.evidence["summary"]
    failed = [c for c in fail.evidence["criteria"] if c["verdict"] == "fail"]
    assert failed and failed[0]["name"] == criterion and failed[0]["evidence"]["n_canary"] >= 60
    history = h.endpoints.history("housing")
    assert [e.spec.get("weight") for e in history[:2]] == [0.0, 50.0]


def test_a_good_canary_is_promoted_after_its_last_step(project: Project) -> None:
    steps = [{"set_weight": 30}, {"analysis": {}}, {"pause": "3s"}, {"set_weight": 60},
             {"analysis": {"count": 2}}]  # fmt: skip
    h = Harness(project, _spec(steps), Behaviour())
    for _ in range(60):
        h.second()
        if h.state() != "running":
            break
    status = h.controller.status("housing")
    assert status.rollout.state == "succeeded", [(d.action, d.outcome) for d in status.decisions]
    assert h.endpoints.get("housing").spec == {"strategy": "single", "model": "housing:2"}
    actions = [(d.action, d.outcome) for d in status.decisions if d.outcome != "inconclusive"]
    assert actions == [
        ("start", "running"), ("set_weight", "done"), ("analysis", "pass"), ("analysis", "pass"),
        ("analysis", "pass"), ("pause", "done"), ("set_weight", "done"), ("analysis", "pass"),
        ("analysis", "pass"), ("promote", "succeeded"),
    ]  # fmt: skip
    assert status.to_dict()["weight"] == 100.0


def test_inconclusive_analysis_pauses_and_resume_accepts_it(project: Project) -> None:
    spec = _spec(
        [
            {"set_weight": 5},
            {"analysis": {"min_samples": 10_000, "count": 1}},
            {"set_weight": 20},
            {"pause": None},
        ]
    )
    h = Harness(project, spec, Behaviour())
    for _ in range(8):
        h.second()
    status = h.controller.status("housing")
    assert status.rollout.state == "paused"
    assert status.decisions[-1].outcome == "inconclusive"
    assert "10000 of each are needed" in status.decisions[-1].evidence["summary"]
    assert h.weight() == 5.0  # held where it was
    h.controller.resume("housing")
    h.second()
    assert h.weight() == 20.0


def test_people_can_pause_resume_and_abort(project: Project) -> None:
    h = Harness(
        project, _spec([{"set_weight": 10}, {"pause": "100s"}, {"set_weight": 50}]), Behaviour()
    )
    h.second()
    h.controller.pause("housing", reason="lunch")
    for _ in range(3):
        h.second()
    assert h.state() == "paused"
    h.controller.resume("housing")
    assert h.state() == "running"
    h.controller.abort("housing", reason="changed my mind")
    status = h.controller.status("housing")
    assert status.rollout.state == "aborted" and h.weight() == 0.0
    assert status.decisions[-1].evidence["reason"] == "changed my mind"
    with pytest.raises(NoActiveRolloutError, match="no active rollout; its last rollout aborted"):
        h.controller.pause("housing")


def test_a_pause_step_without_duration_waits_for_a_person(project: Project) -> None:
    h = Harness(
        project,
        _spec([{"set_weight": 10}, {"pause": None}, {"set_weight": 40}, {"pause": None}]),
        Behaviour(),
    )
    for _ in range(3):
        h.second()
    assert h.state() == "paused" and h.weight() == 10.0
    h.controller.resume("housing")
    h.second()
    assert h.weight() == 40.0


def test_an_endpoint_changed_by_hand_aborts_the_rollout(project: Project) -> None:
    h = Harness(project, _spec([{"set_weight": 10}, {"pause": "100s"}]), Behaviour())
    h.second()
    h.endpoints.put("housing", {"strategy": "single", "model": "housing:1"}, actor="someone")
    h.second()
    status = h.controller.status("housing")
    assert status.rollout.state == "aborted"
    assert "changed outside the rollout" in status.decisions[-1].evidence["reason"]
    assert h.endpoints.get("housing").spec["strategy"] == "single"  # left as the person set it


def test_a_second_rollout_waits_for_the_first(project: Project) -> None:
    h = Harness(project, _spec([{"set_weight": 10}]), Behaviour())
    with pytest.raises(RolloutActiveError, match="already has rollout"):
        h.controller.start("housing", _spec([{"set_weight": 10}]))


def test_two_controllers_never_both_take_a_step(project: Project) -> None:
    h = Harness(project, _spec([{"set_weight": 10}, {"set_weight": 20}]), Behaviour())
    other = RolloutController(project.db, StoreMetricsSource(h.events), clock=h.clock)
    r = h.controller.rollouts.active("housing")[0]
    h.controller.tick()
    other._advance(r)  # works from the stale record it read before the first tick
    decisions = [d.action for d in h.controller.status("housing").decisions]
    assert decisions.count("set_weight") == 2  # 10 then 20, once each
