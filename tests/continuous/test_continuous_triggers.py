"""When a model is due: new alerts of the watched kinds, a schedule, never inside the cool-down."""

from __future__ import annotations

import time

from continuous_helpers import drift_alert, watch_spec

from shipyard.continuous import TrainingJobStore, check_triggers
from shipyard.project import Project
from shipyard.registry import Registry
from shipyard.store.events import EventStore
from shipyard.store.registry import RegistryStore


def check(project: Project, now: float | None = None, **spec: object):  # type: ignore[no-untyped-def]
    return check_triggers(
        watch_spec(**spec), last_job=TrainingJobStore(project.db).latest("tiny"),
        events=EventStore(project.db), registry=RegistryStore(project.db),
        now=time.time() if now is None else now,
    )  # fmt: skip


def finish(project: Project, stage: str = "promoted") -> None:
    store = TrainingJobStore(project.db)
    job = store.create("tiny", {"kind": "manual"})
    store.advance(job.id, owner="t", from_stage="triggered", to_stage=stage)


def test_a_drift_alert_on_the_endpoint_triggers(tiny: Project) -> None:
    assert check(tiny).trigger is None and check(tiny).note == "no new alerts"
    alert = drift_alert(tiny)
    drift_alert(tiny, kind="multivariate_drift")
    trigger = check(tiny).trigger
    assert trigger is not None and trigger.kind == "alert"
    assert alert.id in trigger.alerts and len(trigger.alerts) == 2
    assert trigger.details["kinds"] == ["drift", "multivariate_drift"]
    assert trigger.reason.startswith("1 drift, 1 multivariate_drift alert(s) on tiny; newest: ")


def test_only_the_watched_kinds_and_endpoint_count(tiny: Project) -> None:
    drift_alert(tiny, endpoint="elsewhere")
    drift_alert(tiny, kind="latency")
    assert check(tiny).trigger is None
    drift_alert(tiny, kind="performance")
    assert check(tiny, triggers={"performance": False}).trigger is None
    assert check(tiny, triggers={"drift": False}).trigger is not None
    assert (
        check(tiny, triggers={"drift": False, "performance": False}).note
        == "no triggers configured"
    )


def test_alerts_older_than_the_last_job_or_the_champion_move_are_spent(tiny: Project) -> None:
    drift_alert(tiny)
    finish(tiny)
    assert check(tiny).trigger is None  # answered by that job
    drift_alert(tiny)
    assert check(tiny).trigger is not None
    Registry(tiny).set_alias("tiny:1", "champion", actor="t", reason="again", forced=True)
    assert check(tiny).trigger is None  # about a champion since replaced


def test_nothing_triggers_inside_the_cooldown(tiny: Project) -> None:
    finish(tiny, "rejected")
    drift_alert(tiny)
    held = check(tiny, cooldown_s=600)
    assert held.trigger is None and held.note.startswith("cooling down until ")
    assert check(tiny, now=time.time() + 601, cooldown_s=600).trigger is not None


def test_a_schedule_is_due_after_the_newest_version_or_job(tiny: Project) -> None:
    created = Registry(tiny).get("tiny:1").created_at.timestamp()
    hourly = {"drift": False, "performance": False, "schedule_s": 3600}
    assert check(tiny, now=created + 3599, triggers=hourly).trigger is None
    due = check(tiny, now=created + 3600, triggers=hourly).trigger
    assert due is not None and due.kind == "schedule" and due.details["schedule_s"] == 3600
    finish(tiny)
    job_started = TrainingJobStore(tiny.db).latest("tiny").created_at.timestamp()  # type: ignore[union-attr]
    assert check(tiny, now=job_started + 3599, triggers=hourly).trigger is None
