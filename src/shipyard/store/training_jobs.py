"""Continuous-training jobs, persisted: one row per retraining, its stage and what each stage made.

``TrainingJobStore`` is the only writer of the ``training_jobs`` table. A job is
created with ``active_lock = model``, a UNIQUE column, so a second active job for the
same model cannot exist, whichever process tries (``TrainingJobActiveError``); a
finished job clears the lock. Every change is a compare-and-set on the stage the
caller read, and only the holder of the job's lease (``claim``) may change it, so two
controllers never both run a stage. ``details`` holds each stage's outputs, the stage
history, attempt counts and the lease, as JSON (no migration for a new field).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shipyard.errors import NotFoundError, StoreError
from shipyard.store.db import Database
from shipyard.store.schema import TrainingJobRow

TRIGGERED = "triggered"
PROMOTED = "promoted"
REJECTED = "rejected"
FAILED = "failed"
ROLLED_BACK = "rolled_back"
TERMINAL = (PROMOTED, REJECTED, FAILED, ROLLED_BACK)
STAGES = (TRIGGERED, "dataset_built", "trained", "tested", "gated", "rolling_out", *TERMINAL)


class TrainingJobActiveError(StoreError, ValueError):
    """The model already has an active training job."""

    def __init__(self, model: str, job_id: str | None, stage: str | None) -> None:
        self.model = model
        self.job_id = job_id
        where = f": job {job_id} is at stage {stage}" if job_id else ""
        super().__init__(
            f"model '{model}' is already retraining{where}",
            hint="wait for that job to finish; `shipyard watch --jobs` lists jobs",
        )


class JobConflictError(StoreError):
    """The job moved on, or another controller holds it, since the caller read it."""

    def __init__(self, job_id: str, why: str) -> None:
        self.job_id = job_id
        super().__init__(
            f"training job {job_id} cannot be changed: {why}",
            hint="another controller is advancing it; read it again",
        )


@dataclass(frozen=True)
class TrainingJob:
    """One continuous-training job as stored."""

    id: str
    model: str
    stage: str
    trigger: Mapping[str, Any]
    details: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime
    active: bool

    @property
    def finished(self) -> bool:
        return self.stage in TERMINAL

    @property
    def lease(self) -> Mapping[str, Any]:
        return self.details.get("lease") or {}

    def attempts(self, stage: str) -> int:
        return int((self.details.get("attempts") or {}).get(stage, 0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model,
            "stage": self.stage,
            "active": self.active,
            "trigger": dict(self.trigger),
            "details": dict(self.details),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


class TrainingJobStore:
    """Training jobs in the project's metadata database.

    Times (``now``) are unix seconds; tests pass a fake clock's, production ``time.time()``.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ writing
    def create(
        self,
        model: str,
        trigger: Mapping[str, Any],
        *,
        details: Mapping[str, Any] | None = None,
        now: float | None = None,
    ) -> TrainingJob:
        """Start a job for ``model`` at stage ``triggered``.

        Raises:
            TrainingJobActiveError: the model has an active job (checked by the UNIQUE
                lock, so two processes racing here get one job between them).
        """
        at = _at(now)
        history = [{"stage": TRIGGERED, "at": at.isoformat(), "seconds": None}]
        with self.db.transaction() as session:
            active = session.scalars(
                select(TrainingJobRow).where(TrainingJobRow.active_lock == model)
            ).first()
            if active is not None:
                raise TrainingJobActiveError(model, active.id, active.stage)
            row = TrainingJobRow(
                id=uuid.uuid4().hex,
                model=model,
                active_lock=model,
                stage=TRIGGERED,
                trigger=dict(trigger),
                details={**dict(details or {}), "history": history},
                created_at=at,
                updated_at=at,
            )
            session.add(row)
            try:
                session.flush()
            except IntegrityError:
                # another process inserted the lock between our check and our insert
                raise TrainingJobActiveError(model, None, None) from None
            return _record(row)

    def claim(
        self, job_id: str, owner: str, *, lease_s: float, now: float | None = None
    ) -> TrainingJob | None:
        """Hold the job for ``lease_s`` seconds; None when another owner's lease is live.

        Claiming again as the same owner renews the lease.
        """
        moment = time.time() if now is None else now
        with self.db.transaction() as session:
            row = self._row(session, job_id)
            if row.active_lock is None:
                return None
            lease = (row.details or {}).get("lease") or {}
            if lease.get("owner") not in (None, owner) and float(lease.get("until", 0)) > moment:
                return None
            row.details = {
                **(row.details or {}),
                "lease": {"owner": owner, "until": moment + lease_s},
            }
            return _record(row)

    def release(self, job_id: str, owner: str) -> None:
        """Give the lease up (no-op when ``owner`` does not hold it)."""
        with self.db.transaction() as session:
            row = session.get(TrainingJobRow, job_id, with_for_update=True)
            if row is None or ((row.details or {}).get("lease") or {}).get("owner") != owner:
                return
            details = dict(row.details)
            details.pop("lease", None)
            row.details = details

    def note_attempt(self, job_id: str, owner: str, stage: str) -> TrainingJob:
        """Count one more attempt at the work that leaves ``stage`` (before doing it).

        A controller killed mid-stage leaves the count behind, so a stage that kills
        its controller every time is given up after a few tries instead of forever.
        """
        with self.db.transaction() as session:
            row = self._owned(session, job_id, owner, stage)
            attempts = dict((row.details or {}).get("attempts") or {})
            attempts[stage] = int(attempts.get(stage, 0)) + 1
            row.details = {**row.details, "attempts": attempts}
            return _record(row)

    def advance(
        self,
        job_id: str,
        *,
        owner: str,
        from_stage: str,
        to_stage: str,
        details: Mapping[str, Any] | None = None,
        seconds: float | None = None,
        now: float | None = None,
    ) -> TrainingJob:
        """Move the job from ``from_stage`` to ``to_stage``, merging ``details`` in.

        ``to_stage == from_stage`` records details without moving (a job that waits).
        A terminal ``to_stage`` finishes the job: the lock and lease are cleared.

        Raises:
            JobConflictError: the job is no longer at ``from_stage``, or another owner
                holds its lease.
            StoreError: ``to_stage`` is not a known stage.
        """
        if to_stage not in STAGES:
            raise StoreError(f"unknown training job stage {to_stage!r}", hint=f"use {STAGES}")
        at = _at(now)
        with self.db.transaction() as session:
            row = self._owned(session, job_id, owner, from_stage)
            merged = {**(row.details or {}), **_plain(dict(details or {}))}
            if to_stage != from_stage:
                entry = {"stage": to_stage, "at": at.isoformat(), "seconds": seconds}
                merged["history"] = [*merged.get("history", []), entry]
            if to_stage in TERMINAL:
                merged.pop("lease", None)
                row.active_lock = None
            row.details = merged
            row.stage = to_stage
            row.updated_at = at
            return _record(row)

    # ------------------------------------------------------------------ reading
    def get(self, job_id: str) -> TrainingJob:
        """A job by id or unique id prefix (at least 4 characters).

        Raises:
            NotFoundError: no job (or several) match.
        """
        with self.db.read() as session:
            row = session.get(TrainingJobRow, job_id)
            if row is not None:
                return _record(row)
            if len(job_id) >= 4:
                rows = session.scalars(
                    select(TrainingJobRow).where(TrainingJobRow.id.startswith(job_id)).limit(2)
                ).all()
                if len(rows) == 1:
                    return _record(rows[0])
        raise NotFoundError(
            "training job", job_id, hint="`shipyard watch --jobs` lists jobs and their ids"
        )

    def active(self, model: str) -> TrainingJob | None:
        """The model's active job, if it has one."""
        with self.db.read() as session:
            row = session.scalars(
                select(TrainingJobRow).where(TrainingJobRow.active_lock == model)
            ).first()
            return None if row is None else _record(row)

    def latest(self, model: str) -> TrainingJob | None:
        """The model's newest job, active or finished."""
        jobs = self.list(model, limit=1)
        return jobs[0] if jobs else None

    def list(
        self, model: str | None = None, *, active: bool | None = None, limit: int = 50
    ) -> list[TrainingJob]:
        """Jobs (of one model; only active or finished ones), newest first."""
        query = select(TrainingJobRow)
        if model is not None:
            query = query.where(TrainingJobRow.model == model)
        if active is True:
            query = query.where(TrainingJobRow.active_lock.is_not(None))
        elif active is False:
            query = query.where(TrainingJobRow.active_lock.is_(None))
        query = query.order_by(TrainingJobRow.created_at.desc(), TrainingJobRow.id).limit(limit)
        with self.db.read() as session:
            return [_record(r) for r in session.scalars(query)]

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _row(session: Any, job_id: str) -> TrainingJobRow:
        row = session.get(TrainingJobRow, job_id, with_for_update=True)
        if row is None:
            raise NotFoundError("training job", job_id)
        return row  # type: ignore[no-any-return]

    def _owned(self, session: Any, job_id: str, owner: str, stage: str) -> TrainingJobRow:
        row = self._row(session, job_id)
        if row.active_lock is None:
            raise JobConflictError(job_id, f"it has finished ({row.stage})")
        if row.stage != stage:
            raise JobConflictError(job_id, f"it is at stage {row.stage}, not {stage}")
        holder = ((row.details or {}).get("lease") or {}).get("owner")
        if holder not in (None, owner):
            raise JobConflictError(job_id, f"controller {holder} holds it")
        return row


def _at(now: float | None) -> datetime:
    return datetime.fromtimestamp(time.time() if now is None else now, UTC)


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _record(row: TrainingJobRow) -> TrainingJob:
    return TrainingJob(
        id=row.id,
        model=row.model,
        stage=row.stage,
        trigger=dict(row.trigger or {}),
        details=dict(row.details or {}),
        created_at=_utc(row.created_at),
        updated_at=_utc(row.updated_at),
        active=row.active_lock is not None,
    )


def _plain(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to plain numbers, tuples to lists, NaN to None."""
    import math

    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
