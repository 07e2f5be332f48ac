"""EndpointStore and RolloutStore: revisions, history, optimistic checks, one active rollout."""

from __future__ import annotations

import pytest

from shipyard.errors import NotFoundError
from shipyard.project import Project
from shipyard.store.endpoints import EndpointStore, RevisionConflictError
from shipyard.store.rollouts import (
    PAUSED,
    RUNNING,
    RolloutActiveError,
    RolloutStore,
    Transition,
)

SINGLE = {"strategy": "single", "model": "housing:1"}
CANARY = {"strategy": "canary", "stable": "housing:1", "canary": "housing:2", "weight": 0.0}


def test_each_put_bumps_the_revision_and_is_kept_in_history(project: Project) -> None:
    store = EndpointStore(project.db)
    first = store.put("housing", SINGLE, actor="alice", reason="first")
    second = store.put("housing", CANARY, actor="bob")
    assert (first.revision, second.revision) == (1, 2)
    assert store.get("housing").spec == CANARY
    assert store.revisions() == {"housing": 2}
    history = store.history("housing")
    assert [(e.revision, e.actor, e.reason) for e in history] == [
        (2, "bob", None),
        (1, "alice", "first"),
    ]


def test_a_stale_writer_is_refused(project: Project) -> None:
    store = EndpointStore(project.db)
    store.put("housing", SINGLE, actor="a")
    with pytest.raises(RevisionConflictError, match="revision 1, not 0"):
        store.put("housing", CANARY, actor="b", expected_revision=0)
    assert store.put("housing", CANARY, actor="b", expected_revision=1).revision == 2


def test_delete_and_unknown_endpoints(project: Project) -> None:
    store = EndpointStore(project.db)
    with pytest.raises(NotFoundError, match="endpoint 'nope' not found"):
        store.require("nope")
    store.put("housing", SINGLE, actor="a")
    store.delete("housing", actor="a", reason="retired")
    assert store.get("housing") is None
    assert store.history("housing")[0].reason == "deleted: retired"


def test_one_active_rollout_per_endpoint(project: Project) -> None:
    rollouts = RolloutStore(project.db)
    first = rollouts.create("housing", CANARY)
    with pytest.raises(RolloutActiveError, match=first.id):
        rollouts.create("housing", CANARY)
    assert [r.id for r in rollouts.active("housing")] == [first.id]
    rollouts.create("other", CANARY)  # another endpoint is fine


def test_transition_writes_routing_and_decision_together_and_only_once(project: Project) -> None:
    rollouts, endpoints = RolloutStore(project.db), EndpointStore(project.db)
    endpoints.put("housing", CANARY, actor="t")
    r = rollouts.create("housing", CANARY)
    change = Transition(
        RUNNING, 1, {"weight": 5.0}, "set_weight", "done", {"weight": 5.0},
        endpoint_spec={**CANARY, "weight": 5.0},
    )  # fmt: skip
    done = rollouts.transition(r, change)
    assert done is not None
    record, endpoint = done
    assert record.step_index == 1 and record.seq == 1
    assert endpoint is not None and endpoint.revision == 2 and endpoint.spec["weight"] == 5.0
    # a second controller that read the same record loses the race and changes nothing
    assert rollouts.transition(r, Transition(PAUSED, 0, {}, "pause", "paused")) is None
    assert rollouts.get(r.id).state == RUNNING
    actions = [(d.action, d.outcome, d.evidence.get("weight")) for d in rollouts.decisions(r.id)]
    assert actions == [("start", "running", None), ("set_weight", "done", 5.0)]


def test_evidence_is_stored_as_plain_json(project: Project) -> None:
    import numpy as np

    rollouts = RolloutStore(project.db)
    r = rollouts.create("housing", CANARY)
    evidence = {"p": np.float64(0.5), "counts": np.array([1, 2]), "nan": float("nan")}
    rollouts.transition(r, Transition(RUNNING, 0, {}, "analysis", "pass", evidence))
    assert rollouts.decisions(r.id)[-1].evidence == {"p": 0.5, "counts": [1, 2], "nan": None}
