"""The controller on the tiny project: alert -> training set -> run -> tests -> gate -> canary -> champion.

Everything is real: the pipeline runs and registers, the suites run, the gate scores
both versions on the frozen set, the canary rollout moves the endpoint's routing.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from continuous_helpers import drift_alert, serve, watch_spec, world

from shipyard.continuous import ContinuousController, TrainingJobActiveError, TrainingJobStore
from shipyard.continuous import stages as stages_module
from shipyard.data import Dataset
from shipyard.errors import ConfigError
from shipyard.project import Project
from shipyard.registry import Registry
from shipyard.rollout.analysis import StoreMetricsSource
from shipyard.rollout.controller import RolloutController
from shipyard.store.endpoints import EndpointStore
from shipyard.store.events import EventStore
from shipyard.store.rollouts import RolloutStore
from shipyard.store.runs import RunStore

STAGES = ["triggered", "dataset_built", "trained", "tested", "gated", "rolling_out", "promoted"]


class Crash(BaseException):
    """Stands in for the process dying: not an Exception, so nothing catches it."""


class Clock:
    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now


def controller(project: Project, **kwargs: object) -> ContinuousController:
    return ContinuousController(project, **kwargs)  # type: ignore[arg-type]


def champion(project: Project) -> str:
    return Registry(project).get("tiny@champion").ref


def mae(project: Project, ref: str, frame) -> float:  # type: ignore[no-untyped-def]
    predicted = Registry(project).load(ref).predict_frame(frame[["x1", "x2"]])
    return float(np.mean(np.abs(np.asarray(predicted, dtype=float) - frame["y"].to_numpy())))


def shifted_traffic_with_alert(project: Project, rows: int = 200) -> None:
    serve(project, world(rows, seed=7, shift=4.0))
    drift_alert(project)


# ---------------------------------------------------------------------- the whole loop
def test_a_drift_alert_retrains_gates_canaries_and_promotes(tiny: Project) -> None:
    shifted_traffic_with_alert(tiny)
    seen = []
    [result] = controller(tiny, on_stage=seen.append).run_once()

    job = result.job
    assert job is not None and job.stage == "promoted" and not job.active
    assert [e.stage for e in seen] == STAGES
    assert [h["stage"] for h in job.details["history"]] == STAGES
    assert job.trigger["kind"] == "alert" and job.trigger["kinds"] == ["drift"]
    # the frozen evaluation set is the newest 40% of the labelled rows, never trained on
    data = job.details["dataset"]
    train = Dataset.load(data["train"], tiny).to_pandas()
    frozen = Dataset.load(data["eval"], tiny).to_pandas()
    assert data["labelled_train"] + data["labelled_eval"] == 200 and data["labelled_eval"] == 80
    assert data["reference_rows"] == 30  # share 0.2 of the training set: 30 / (30 + 120)
    assert len(train) == 150 and len(frozen) == 80
    assert not set(map(tuple, frozen.round(9).to_numpy())) & set(
        map(tuple, train.round(9).to_numpy())
    )
    # the candidate, its tests, the gate on the frozen set, the canary, the alias move
    assert job.details["candidate"] == "tiny:2" == champion(tiny)
    assert job.details["tests"]["passed"] is True
    gate = job.details["gate"]
    assert gate["passed"] and gate["incumbent"] == "tiny:1" and gate["dataset"] == data["eval"]
    move = Registry(tiny).history("tiny", "champion")[-1]
    assert move.actor == "shipyard watch" and not move.forced
    assert move.evidence["evidence"]["dataset_digest"] == data["eval"]
    rollout = RolloutStore(tiny.db).get(job.details["rollout"]["id"])
    assert rollout.state == "succeeded"
    assert EndpointStore(tiny.db).require("tiny").spec == {"strategy": "single", "model": "tiny:2"}
    # the error on the shifted world recovers
    fresh = world(500, seed=99, shift=4.0)
    before, after = mae(tiny, "tiny:1", fresh), mae(tiny, "tiny:2", fresh)
    assert before > 3.5 and after < 1.2, (before, after)


def test_a_finished_job_is_not_retriggered_by_the_alerts_it_answered(tiny: Project) -> None:
    shifted_traffic_with_alert(tiny)
    c = controller(tiny)
    c.run_once()
    [again] = c.run_once()
    assert again.job is None and again.note == "no new alerts"
    assert len(TrainingJobStore(tiny.db).list("tiny")) == 1


def test_a_cooldown_holds_a_new_alert_back(tiny: Project) -> None:
    shifted_traffic_with_alert(tiny)
    c = controller(tiny, specs={"tiny": watch_spec(cooldown_s=3600)})
    c.run_once()
    drift_alert(tiny)
    [held] = c.run_once()
    assert held.job is None and held.note.startswith("cooling down until")


# ---------------------------------------------------------------------- one job at a time
def test_a_second_trigger_while_retraining_is_refused(tiny: Project) -> None:
    c = controller(tiny)
    first = c.trigger("tiny", "first")
    with pytest.raises(TrainingJobActiveError, match="'tiny' is already retraining") as info:
        c.trigger("tiny", "second")
    assert info.value.job_id == first.id


def test_two_controllers_at_once_run_one_job_and_register_one_version(tiny: Project) -> None:
    shifted_traffic_with_alert(tiny)
    projects = [Project.open(tiny.root) for _ in range(2)]
    start = threading.Barrier(2)
    results: list[object] = []

    def work(project: Project) -> None:
        start.wait()
        results.extend(controller(project).run_once())

    threads = [threading.Thread(target=work, args=(p,)) for p in projects]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for p in projects:
        p.db.dispose()
    # the other controller found the job held (or, when it looked late, already done)
    notes = [r.note for r in results]  # type: ignore[attr-defined]
    others = [n for n in notes if not n.endswith("promoted")]
    assert len(notes) == 2 and len(others) == 1, notes
    assert "is being advanced by" in others[0] or others[0] == "no new alerts", notes

    jobs = TrainingJobStore(tiny.db).list("tiny")
    assert len(jobs) == 1 and jobs[0].stage == "promoted"
    assert [h["stage"] for h in jobs[0].details["history"]] == STAGES  # each stage ran once
    assert [v.version for v in Registry(tiny).versions("tiny")] == [1, 2]
    assert (
        len(RunStore(tiny.db).list(pipeline="tiny")) == 2
    )  # the template's run and one retraining


# ---------------------------------------------------------------------- crashes
def test_a_crash_after_training_resumes_at_tests_without_training_again(tiny: Project) -> None:
    shifted_traffic_with_alert(tiny)

    def die_after_training(event: object) -> None:
        if getattr(event, "stage", None) == "trained":
            raise Crash

    with pytest.raises(Crash):
        controller(tiny, on_stage=die_after_training).run_once()
    [job] = TrainingJobStore(tiny.db).list("tiny")
    assert job.stage == "trained" and job.active and "lease" not in job.details
    runs = len(RunStore(tiny.db).list())

    resumed = []
    [result] = controller(tiny, on_stage=resumed.append).run_once()

    assert [e.stage for e in resumed] == ["tested", "gated", "rolling_out", "promoted"]
    assert result.job is not None and result.job.id == job.id
    assert len(RunStore(tiny.db).list()) == runs  # the pipeline did not run again
    assert [v.version for v in Registry(tiny).versions("tiny")] == [1, 2]
    assert champion(tiny) == "tiny:2"


def test_a_crash_before_training_was_recorded_reruns_from_cache_and_registers_nothing_new(
    tiny: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    shifted_traffic_with_alert(tiny)
    advance = TrainingJobStore.advance

    def dies_recording_training(self, job_id, **kw):  # type: ignore[no-untyped-def]
        if kw["to_stage"] == "trained":
            raise Crash
        return advance(self, job_id, **kw)

    monkeypatch.setattr(TrainingJobStore, "advance", dies_recording_training)
    with pytest.raises(Crash):
        controller(tiny).run_once()
    monkeypatch.setattr(TrainingJobStore, "advance", advance)
    assert [v.version for v in Registry(tiny).versions("tiny")] == [1, 2]  # registered, unrecorded

    [result] = controller(tiny).run_once()

    job = result.job
    assert job is not None and job.stage == "promoted" and job.details["candidate"] == "tiny:2"
    assert job.details["run"]["cached"] == ["load", "split", "fit", "package"]  # all cache hits
    assert job.attempts("dataset_built") == 2
    assert [v.version for v in Registry(tiny).versions("tiny")] == [1, 2]


def test_a_crash_after_starting_the_canary_adopts_it_instead_of_starting_another(
    tiny: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    shifted_traffic_with_alert(tiny)
    advance = TrainingJobStore.advance

    def dies_recording_rollout(self, job_id, **kw):  # type: ignore[no-untyped-def]
        if kw["to_stage"] == "rolling_out":
            raise Crash
        return advance(self, job_id, **kw)

    monkeypatch.setattr(TrainingJobStore, "advance", dies_recording_rollout)
    spec = watch_spec(rollout={"steps": [{"set_weight": 50}, {"pause": None}, {"set_weight": 100}]})
    with pytest.raises(Crash):
        controller(tiny, specs={"tiny": spec}).run_once()
    monkeypatch.setattr(TrainingJobStore, "advance", advance)

    seen = []
    [result] = controller(tiny, specs={"tiny": spec}, on_stage=seen.append).run_once()

    assert "adopted" in seen[0].summary
    assert len(RolloutStore(tiny.db).all("tiny")) == 1
    assert result.job is not None and result.job.stage == "rolling_out"


def test_a_killed_controllers_lease_blocks_others_until_it_expires(tiny: Project) -> None:
    shifted_traffic_with_alert(tiny)
    clock = Clock()
    dead = controller(tiny, clock=clock, owner="dead", lease_s=60)
    job = dead.trigger("tiny", "test")
    assert TrainingJobStore(tiny.db).claim(job.id, "dead", lease_s=60, now=clock.now)  # then killed

    alive = controller(tiny, clock=clock, owner="alive", lease_s=60)
    clock.now += 30
    [held] = alive.run_once()
    assert held.job is not None and held.job.stage == "triggered"
    assert held.note == f"job {job.id[:8]} (triggered) is being advanced by dead"

    clock.now += 31
    [taken] = alive.run_once()
    assert taken.job is not None and taken.job.stage == "promoted"


def test_a_stage_that_keeps_crashing_is_given_up_after_max_attempts(
    tiny: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    shifted_traffic_with_alert(tiny)

    def broken(ctx: object) -> object:
        raise RuntimeError("the GPU fell off")

    monkeypatch.setitem(stages_module.STAGES, "dataset_built", broken)
    c = controller(tiny, specs={"tiny": watch_spec(max_attempts=2)})
    notes = [c.run_once()[0].note for _ in range(3)]

    assert "raised RuntimeError: the GPU fell off" in notes[0] and "RuntimeError" in notes[1]
    job = TrainingJobStore(tiny.db).list("tiny")[0]
    assert job.stage == "failed" and not job.active
    assert "2 attempts did not finish" in job.details["reason"]
    assert job.details["failed_after"] == "dataset_built"


# ---------------------------------------------------------------------- triggers and policy
def test_a_schedule_triggers_a_retraining_when_the_model_is_old_enough(tiny: Project) -> None:
    serve(tiny, world(200, seed=7, shift=4.0))
    clock = Clock()
    spec = watch_spec(triggers={"drift": False, "performance": False, "schedule_s": "1h"})
    c = controller(tiny, specs={"tiny": spec}, clock=clock)
    [early] = c.run_once()
    assert early.job is None and early.note.startswith("no new alerts; next scheduled retraining")

    clock.now += 3601
    [due] = c.run_once()
    assert due.job is not None and due.job.trigger["kind"] == "schedule"
    assert due.job.stage == "promoted"


def test_without_labelled_events_the_job_fails_with_the_reason(tiny: Project) -> None:
    serve(tiny, world(50, seed=7, shift=4.0), labelled=False)
    drift_alert(tiny)
    [result] = controller(tiny).run_once()
    assert result.job is not None and result.job.stage == "failed"
    reason = result.job.details["reason"]
    assert reason == "not enough labelled events: 0 labelled events, needs at least 60"
    assert result.job.details["failed_after"] == "triggered"


def test_waiting_for_labels_keeps_the_job_until_they_come_or_time_runs_out(tiny: Project) -> None:
    serve(tiny, world(40, seed=7, shift=4.0))
    drift_alert(tiny)
    clock = Clock()
    spec = watch_spec(on_insufficient="wait", max_wait_s="2h")
    c = controller(tiny, specs={"tiny": spec}, clock=clock)
    [waiting] = c.run_once()
    assert waiting.job is not None and waiting.job.stage == "triggered" and waiting.job.active
    assert waiting.note == "waiting for labels: 40 labelled events, needs at least 60"
    assert waiting.job.attempts("triggered") == 0  # waiting is not a failed attempt

    clock.now += 7201
    [late] = c.run_once()
    assert late.job is not None and late.job.stage == "failed"
    assert "after waiting 720" in late.job.details["reason"]


def test_labels_arriving_while_waiting_let_the_job_continue(tiny: Project) -> None:
    serve(tiny, world(40, seed=7, shift=4.0))
    drift_alert(tiny)
    c = controller(tiny, specs={"tiny": watch_spec(on_insufficient="wait")})
    assert c.run_once()[0].job.stage == "triggered"  # type: ignore[union-attr]
    serve(tiny, world(160, seed=8, shift=4.0))
    assert c.run_once()[0].job.stage == "promoted"  # type: ignore[union-attr]


def test_a_candidate_no_better_than_the_champion_is_rejected_by_the_gate(tiny: Project) -> None:
    serve(tiny, world(200, seed=7))  # the world did not change
    drift_alert(tiny)
    [result] = controller(tiny).run_once()
    job = result.job
    assert job is not None and job.stage == "rejected"
    assert job.details["reason"].startswith("the gate refused tiny:2: ")
    assert job.details["gate"]["passed"] is False
    assert champion(tiny) == "tiny:1"
    assert RolloutStore(tiny.db).all("tiny") == []
    assert EndpointStore(tiny.db).require("tiny").spec["strategy"] == "single"


def test_failing_behavioural_tests_reject_the_candidate(tiny: Project) -> None:
    config = tiny.root / "shipyard.yaml"
    config.write_text(config.read_text().replace("expect: increase", "expect: decrease"))
    project = Project.open(tiny.root)
    shifted_traffic_with_alert(project)
    [result] = controller(project).run_once()
    job = result.job
    assert job is not None and job.stage == "rejected"
    assert job.details["reason"] == "behavioural tests failed: tiny-behaviour/more-x1"
    assert champion(project) == "tiny:1"
    project.db.dispose()


def test_a_canary_that_is_rolled_back_leaves_the_champion(tiny: Project) -> None:
    shifted_traffic_with_alert(tiny)
    spec = watch_spec(rollout={"steps": [{"set_weight": 50}, {"pause": None}, {"set_weight": 100}]})
    c = controller(tiny, specs={"tiny": spec})
    [paused] = c.run_once()
    assert paused.job is not None and paused.job.stage == "rolling_out"
    assert "paused at step 1/3, weight 50" in paused.note

    RolloutController(tiny.db, StoreMetricsSource(EventStore(tiny.db))).abort("tiny", reason="no")
    [ended] = c.run_once()

    assert ended.job is not None and ended.job.stage == "rolled_back"
    assert "ended aborted" in ended.job.details["reason"]
    assert champion(tiny) == "tiny:1"
    assert EndpointStore(tiny.db).require("tiny").spec["weight"] == 0.0


def test_without_a_canary_the_gate_alone_promotes(tiny: Project) -> None:
    shifted_traffic_with_alert(tiny)
    [result] = controller(tiny, specs={"tiny": watch_spec(rollout=None)}).run_once()
    assert result.job is not None and result.job.stage == "promoted"
    assert "rollout" not in result.job.details
    assert champion(tiny) == "tiny:2"


def test_an_endpoint_that_is_not_deployed_fails_the_job_with_a_hint(tiny: Project) -> None:
    shifted_traffic_with_alert(tiny)
    EndpointStore(tiny.db).delete("tiny", actor="test")
    [result] = controller(tiny).run_once()
    assert result.job is not None and result.job.stage == "failed"
    assert "shipyard deploy tiny --model tiny@champion" in result.job.details["reason"]
    assert champion(tiny) == "tiny:1"


def test_check_refuses_a_pipeline_without_the_dataset_parameter(tiny: Project) -> None:
    c = controller(tiny, specs={"tiny": watch_spec(dataset_param="rows_from")})
    with pytest.raises(
        ConfigError,
        match=r"continuous\.tiny\.dataset_param: pipeline 'tiny' has no parameter 'rows_from'",
    ):
        c.check()


def test_an_unwatched_model_is_named(tiny: Project) -> None:
    with pytest.raises(ConfigError, match="model 'nope' is not watched"):
        controller(tiny).run_once(["nope"])
