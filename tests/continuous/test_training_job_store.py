"""TrainingJobStore: one active job per model (a UNIQUE lock), stage compare-and-set, leases.

Runs against SQLite and the real PostgreSQL: the lock must hold on both.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from shipyard.errors import NotFoundError
from shipyard.store.db import Database
from shipyard.store.training_jobs import (
    JobConflictError,
    TrainingJobActiveError,
    TrainingJobStore,
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path) -> Iterator[Database]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("pg_store_url")
    database = Database(url)
    yield database
    database.dispose()


def test_a_model_has_at_most_one_active_job(db: Database) -> None:
    store = TrainingJobStore(db)
    job = store.create("housing", {"kind": "manual"}, now=100.0)
    assert job.stage == "triggered" and job.active and job.trigger == {"kind": "manual"}
    with pytest.raises(TrainingJobActiveError) as info:
        store.create("housing", {"kind": "manual"})
    assert str(info.value).startswith(f"model 'housing' is already retraining: job {job.id}")
    assert isinstance(info.value, ValueError)
    assert store.create("other", {}).active  # another model is free


def test_racing_creators_get_exactly_one_job(db: Database) -> None:
    stores = [TrainingJobStore(Database(db.url)) for _ in range(6)]
    start = threading.Barrier(len(stores))
    won, refused = [], []

    def create(store: TrainingJobStore) -> None:
        start.wait()
        try:
            won.append(store.create("housing", {}))
        except TrainingJobActiveError:
            refused.append(1)

    threads = [threading.Thread(target=create, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for s in stores:
        s.db.dispose()
    assert len(won) == 1 and len(refused) == 5
    assert [j.id for j in TrainingJobStore(db).list("housing")] == [won[0].id]


def test_advance_is_a_compare_and_set_on_the_stage_and_records_history(db: Database) -> None:
    store = TrainingJobStore(db)
    job = store.create("housing", {}, now=100.0)
    moved = store.advance(
        job.id, owner="a", from_stage="triggered", to_stage="dataset_built",
        details={"dataset": {"train": "abc"}}, seconds=1.5, now=101.0,
    )  # fmt: skip
    assert moved.stage == "dataset_built" and moved.details["dataset"] == {"train": "abc"}
    assert [(h["stage"], h["seconds"]) for h in moved.details["history"]] == [
        ("triggered", None), ("dataset_built", 1.5),
    ]  # fmt: skip
    assert moved.updated_at.timestamp() == 101.0
    with pytest.raises(JobConflictError, match="it is at stage dataset_built, not triggered"):
        store.advance(job.id, owner="a", from_stage="triggered", to_stage="dataset_built")
    waited = store.advance(
        job.id, owner="a", from_stage="dataset_built", to_stage="dataset_built",
        details={"waiting": "labels"},
    )  # fmt: skip
    assert waited.stage == "dataset_built" and len(waited.details["history"]) == 2
    assert waited.details["dataset"] == {"train": "abc"}  # merged, not replaced


def test_a_terminal_stage_frees_the_model_for_a_new_job(db: Database) -> None:
    store = TrainingJobStore(db)
    job = store.create("housing", {})
    store.claim(job.id, "a", lease_s=60, now=0.0)
    done = store.advance(job.id, owner="a", from_stage="triggered", to_stage="failed",
                         details={"reason": "no labels"})  # fmt: skip
    assert not done.active and done.finished and "lease" not in done.details
    assert store.active("housing") is None
    again = store.create("housing", {})
    assert store.active("housing") == again
    assert [j.id for j in store.list("housing")][-1] == job.id
    assert [j.id for j in store.list("housing", active=False)] == [job.id]
    with pytest.raises(JobConflictError):  # a finished job cannot be claimed into work
        store.advance(job.id, owner="a", from_stage="failed", to_stage="promoted")
    assert store.claim(job.id, "a", lease_s=60) is None


def test_a_lease_keeps_other_owners_out_until_it_expires(db: Database) -> None:
    store = TrainingJobStore(db)
    job = store.create("housing", {})
    assert store.claim(job.id, "a", lease_s=60, now=1000.0) is not None
    assert store.claim(job.id, "b", lease_s=60, now=1030.0) is None
    with pytest.raises(JobConflictError, match="controller a holds it"):
        store.advance(job.id, owner="b", from_stage="triggered", to_stage="dataset_built")
    renewed = store.claim(job.id, "a", lease_s=60, now=1050.0)
    assert renewed is not None and renewed.lease == {"owner": "a", "until": 1110.0}
    assert store.claim(job.id, "b", lease_s=60, now=1111.0) is not None  # expired: b takes over
    store.release(job.id, "a")  # not a's any more: no-op
    assert store.get(job.id).lease["owner"] == "b"
    store.release(job.id, "b")
    assert store.get(job.id).lease == {}


def test_attempts_are_counted_per_stage(db: Database) -> None:
    store = TrainingJobStore(db)
    job = store.create("housing", {})
    store.note_attempt(job.id, "a", "triggered")
    counted = store.note_attempt(job.id, "a", "triggered")
    assert counted.attempts("triggered") == 2 and counted.attempts("trained") == 0
    with pytest.raises(JobConflictError):
        store.note_attempt(job.id, "a", "trained")


def test_jobs_are_found_by_id_or_prefix_and_unknown_ones_are_named(db: Database) -> None:
    store = TrainingJobStore(db)
    job = store.create("housing", {})
    assert store.get(job.id[:8]) == job == store.latest("housing")
    assert store.latest("nope") is None
    with pytest.raises(NotFoundError, match="training job 'zzzzzz' not found"):
        store.get("zzzzzz")
    with pytest.raises(Exception, match="unknown training job stage 'done'"):
        store.advance(job.id, owner="a", from_stage="triggered", to_stage="done")
