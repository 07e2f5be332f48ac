"""Rollouts, persisted: each rollout's state and step, and every decision with its evidence.

``RolloutStore`` is the only writer of the ``rollouts`` and ``rollout_decisions``
tables. A rollout's row holds its spec (the endpoint spec it started from, with its
steps) and its progress (``spec["progress"]``: when the step began, the looks made,
a sequence number). ``transition`` changes state, step, progress, the endpoint's
routing and the decision log in one transaction, and only when the row is still
at the sequence number the caller read: two controllers never both advance a step.
At most one rollout per endpoint is active (running or paused).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from shipyard.errors import NotFoundError, RolloutError
from shipyard.store.db import Database
from shipyard.store.endpoints import EndpointRecord, put_spec
from shipyard.store.schema import RolloutDecisionRow, RolloutRow

RUNNING = "running"
PAUSED = "paused"
SUCCEEDED = "succeeded"
ROLLED_BACK = "rolled_back"
ABORTED = "aborted"
ACTIVE = (RUNNING, PAUSED)
STATES = (RUNNING, PAUSED, SUCCEEDED, ROLLED_BACK, ABORTED)


class RolloutActiveError(RolloutError, ValueError):
    """The endpoint already has a running or paused rollout."""

    def __init__(self, endpoint: str, rollout_id: str, state: str) -> None:
        self.endpoint = endpoint
        self.rollout_id = rollout_id
        super().__init__(
            f"endpoint '{endpoint}' already has rollout {rollout_id} ({state})",
            hint=f"wait for it, or stop it: shipyard rollout abort {endpoint}",
        )


@dataclass(frozen=True)
class RolloutRecord:
    """One rollout as stored."""

    id: str
    endpoint: str
    state: str
    step_index: int
    spec: Mapping[str, Any]
    progress: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def seq(self) -> int:
        return int(self.progress.get("seq", 0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "endpoint": self.endpoint,
            "state": self.state,
            "step_index": self.step_index,
            "spec": dict(self.spec),
            "progress": dict(self.progress),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class RolloutDecision:
    """One decision of a rollout: what was done, the verdict, and the evidence for it."""

    id: int
    rollout_id: str
    step_index: int
    action: str
    outcome: str
    evidence: Mapping[str, Any]
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rollout_id": self.rollout_id,
            "step_index": self.step_index,
            "action": self.action,
            "outcome": self.outcome,
            "evidence": dict(self.evidence),
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True)
class Transition:
    """What one controller step changes, applied atomically by ``RolloutStore.transition``."""

    state: str
    step_index: int
    progress: Mapping[str, Any]
    action: str
    outcome: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    endpoint_spec: Mapping[str, Any] | None = None  # new routing, when it changes
    actor: str = "rollout-controller"


class RolloutStore:
    """Rollouts and their decisions in the project's metadata database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        endpoint: str,
        spec: Mapping[str, Any],
        *,
        progress: Mapping[str, Any] | None = None,
        actor: str = "user",
    ) -> RolloutRecord:
        """Start a rollout of ``endpoint`` (state ``running``, step 0).

        Raises:
            RolloutActiveError: the endpoint has an active rollout.
        """
        now = datetime.now(UTC)
        with self.db.transaction() as session:
            active = session.scalars(
                select(RolloutRow).where(
                    RolloutRow.endpoint == endpoint, RolloutRow.state.in_(ACTIVE)
                )
            ).first()
            if active is not None:
                raise RolloutActiveError(endpoint, active.id, active.state)
            row = RolloutRow(
                id=uuid.uuid4().hex,
                endpoint=endpoint,
                state=RUNNING,
                step_index=0,
                spec={"spec": dict(spec), "progress": {"seq": 0, **dict(progress or {})}},
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()  # no ORM relationship orders the inserts: the parent goes first
            session.add(
                RolloutDecisionRow(
                    rollout_id=row.id, step_index=0, action="start", outcome="running",
                    evidence={"actor": actor}, at=now,
                )
            )  # fmt: skip
            session.flush()
            return _record(row)

    def get(self, rollout_id: str) -> RolloutRecord:
        """Raises NotFoundError when no rollout has this id."""
        with self.db.read() as session:
            row = session.get(RolloutRow, rollout_id)
            if row is None:
                raise NotFoundError("rollout", rollout_id)
            return _record(row)

    def active(self, endpoint: str | None = None) -> list[RolloutRecord]:
        """Running and paused rollouts (of one endpoint), oldest first."""
        query = select(RolloutRow).where(RolloutRow.state.in_(ACTIVE))
        if endpoint is not None:
            query = query.where(RolloutRow.endpoint == endpoint)
        with self.db.read() as session:
            return [_record(r) for r in session.scalars(query.order_by(RolloutRow.created_at))]

    def latest(self, endpoint: str) -> RolloutRecord | None:
        """The endpoint's newest rollout, active or finished."""
        query = (
            select(RolloutRow)
            .where(RolloutRow.endpoint == endpoint)
            .order_by(RolloutRow.created_at.desc())
            .limit(1)
        )
        with self.db.read() as session:
            row = session.scalars(query).first()
            return None if row is None else _record(row)

    def all(self, endpoint: str | None = None, *, limit: int = 50) -> list[RolloutRecord]:
        """Rollouts (of one endpoint), newest first."""
        query = select(RolloutRow).order_by(RolloutRow.created_at.desc()).limit(limit)
        if endpoint is not None:
            query = query.where(RolloutRow.endpoint == endpoint)
        with self.db.read() as session:
            return [_record(r) for r in session.scalars(query)]

    def transition(
        self, rollout: RolloutRecord, change: Transition
    ) -> tuple[RolloutRecord, EndpointRecord | None] | None:
        """Apply ``change`` if the rollout is still as the caller read it.

        Returns the new record (and the endpoint's new record when its routing
        changed), or None when another writer moved the rollout first.
        """
        now = datetime.now(UTC)
        with self.db.transaction() as session:
            row = session.get(RolloutRow, rollout.id, with_for_update=True)
            if row is None:
                raise NotFoundError("rollout", rollout.id)
            if _record(row).seq != rollout.seq:
                return None
            endpoint = None
            if change.endpoint_spec is not None:
                endpoint = put_spec(
                    session, row.endpoint, change.endpoint_spec,
                    actor=f"{change.actor} ({rollout.id[:8]})", reason=change.action,
                )  # fmt: skip
            progress = {**dict(change.progress), "seq": rollout.seq + 1}
            row.spec = {"spec": dict(row.spec.get("spec", {})), "progress": progress}
            row.state = change.state
            row.step_index = change.step_index
            row.updated_at = now
            session.add(
                RolloutDecisionRow(
                    rollout_id=row.id, step_index=rollout.step_index, action=change.action[:32],
                    outcome=change.outcome[:20], evidence=_jsonable(change.evidence), at=now,
                )
            )  # fmt: skip
            session.flush()
            return _record(row), endpoint

    def decisions(self, rollout_id: str, *, limit: int | None = None) -> list[RolloutDecision]:
        """The rollout's decisions, oldest first (the newest ``limit``)."""
        query = (
            select(RolloutDecisionRow)
            .where(RolloutDecisionRow.rollout_id == rollout_id)
            .order_by(RolloutDecisionRow.id.desc())
        )
        if limit is not None:
            query = query.limit(limit)
        with self.db.read() as session:
            rows = [
                RolloutDecision(
                    r.id, r.rollout_id, r.step_index, r.action, r.outcome, r.evidence, _utc(r.at)
                )
                for r in session.scalars(query)
            ]
        return rows[::-1]


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _record(row: RolloutRow) -> RolloutRecord:
    stored = row.spec or {}
    return RolloutRecord(
        id=row.id,
        endpoint=row.endpoint,
        state=row.state,
        step_index=row.step_index,
        spec=dict(stored.get("spec", {})),
        progress=dict(stored.get("progress", {})),
        created_at=_utc(row.created_at),
        updated_at=_utc(row.updated_at),
    )


def _jsonable(value: Any) -> Any:
    """JSON-safe copy of evidence: numpy scalars and arrays to plain values, NaN to None."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        return _jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
