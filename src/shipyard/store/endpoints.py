"""Endpoint routing, persisted: the current spec of each endpoint, its revision and history.

``EndpointStore`` is the only writer of the ``endpoints`` and ``endpoint_events``
tables. Every change bumps the endpoint's revision and appends an event (who, why,
the spec), in one transaction; a running server polls ``revisions()`` and applies
what changed. A write may name the revision it read (``expected_revision``), so two
writers never silently overwrite each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.errors import NotFoundError, StoreError
from shipyard.store.db import Database
from shipyard.store.schema import EndpointEventRow, EndpointRow, PredictionEventRow


@dataclass(frozen=True)
class EndpointRecord:
    """One endpoint's routing spec as stored (``shipyard.rollout.spec`` reads it)."""

    name: str
    spec: Mapping[str, Any]
    revision: int
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "spec": dict(self.spec),
            "revision": self.revision,
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class EndpointEvent:
    """One change of an endpoint's routing."""

    endpoint: str
    revision: int
    spec: Mapping[str, Any]
    actor: str
    reason: str | None
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "revision": self.revision,
            "spec": dict(self.spec),
            "actor": self.actor,
            "reason": self.reason,
            "at": self.at.isoformat(),
        }


class RevisionConflictError(StoreError, ValueError):
    """The endpoint changed since the caller read it."""

    def __init__(self, endpoint: str, expected: int, found: int) -> None:
        self.endpoint = endpoint
        self.expected = expected
        self.found = found
        super().__init__(
            f"endpoint '{endpoint}' is at revision {found}, not {expected}",
            hint="someone changed it meanwhile; read it again and retry",
        )


class EndpointStore:
    """Endpoints' routing specs in the project's metadata database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, name: str) -> EndpointRecord | None:
        with self.db.read() as session:
            row = session.get(EndpointRow, name)
            return None if row is None else _record(row)

    def require(self, name: str) -> EndpointRecord:
        """Like ``get``, raising when the endpoint is not stored."""
        found = self.get(name)
        if found is None:
            known = [e.name for e in self.all()]
            raise NotFoundError(
                "endpoint",
                name,
                hint=f"stored endpoints: {', '.join(known[:20])}"
                if known
                else "deploy one first: shipyard deploy ENDPOINT --strategy single --model REF",
            )
        return found

    def all(self) -> list[EndpointRecord]:
        with self.db.read() as session:
            return [
                _record(r) for r in session.scalars(select(EndpointRow).order_by(EndpointRow.name))
            ]

    def revisions(self) -> dict[str, int]:
        """``{endpoint: revision}``: the cheap query a server polls."""
        with self.db.read() as session:
            rows = session.execute(select(EndpointRow.name, EndpointRow.revision))
            return {name: revision for name, revision in rows}

    def put(
        self,
        name: str,
        spec: Mapping[str, Any],
        *,
        actor: str,
        reason: str | None = None,
        expected_revision: int | None = None,
    ) -> EndpointRecord:
        """Store ``spec`` as the endpoint's routing, one revision up.

        Raises:
            RevisionConflictError: ``expected_revision`` is not the stored revision
                (0 means: the endpoint must not exist yet).
        """
        with self.db.transaction() as session:
            return put_spec(
                session, name, spec, actor=actor, reason=reason, expected=expected_revision
            )

    def delete(self, name: str, *, actor: str, reason: str | None = None) -> EndpointRecord:
        """Remove an endpoint; its history stays.

        Raises:
            NotFoundError: no such endpoint is stored.
        """
        self.require(name)
        with self.db.transaction() as session:
            row = session.get(EndpointRow, name)
            if row is None:
                raise NotFoundError("endpoint", name)
            record = _record(row)
            session.add(
                EndpointEventRow(
                    endpoint=name, revision=row.revision + 1, policy={}, actor=actor[:200],
                    reason=f"deleted: {reason}" if reason else "deleted", at=datetime.now(UTC),
                )
            )  # fmt: skip
            session.delete(row)
        return record

    def history(self, name: str, *, limit: int = 100) -> list[EndpointEvent]:
        """The endpoint's changes, newest first."""
        query = (
            select(EndpointEventRow)
            .where(EndpointEventRow.endpoint == name)
            .order_by(EndpointEventRow.id.desc())
            .limit(limit)
        )
        with self.db.read() as session:
            return [
                EndpointEvent(r.endpoint, r.revision, r.policy, r.actor, r.reason, _utc(r.at))
                for r in session.scalars(query)
            ]


def put_spec(
    session: Session,
    name: str,
    spec: Mapping[str, Any],
    *,
    actor: str,
    reason: str | None,
    expected: int | None = None,
) -> EndpointRecord:
    """Write an endpoint's spec inside the caller's transaction (the rollout store shares it)."""
    now = datetime.now(UTC)
    row = session.get(EndpointRow, name, with_for_update=True)
    found = 0 if row is None else row.revision
    if expected is not None and expected != found:
        raise RevisionConflictError(name, expected, found)
    if row is None:
        row = EndpointRow(name=name, policy=dict(spec), revision=1, updated_at=now)
        session.add(row)
    else:
        row.policy = dict(spec)
        row.revision = found + 1
        row.updated_at = now
    session.add(
        EndpointEventRow(
            endpoint=name, revision=row.revision, policy=dict(spec), actor=actor[:200],
            reason=reason, at=now,
        )
    )  # fmt: skip
    session.flush()
    return _record(row)


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _record(row: EndpointRow) -> EndpointRecord:
    return EndpointRecord(row.name, dict(row.policy or {}), row.revision, _utc(row.updated_at))


def latest_request(db: Database, endpoint: str, key: str) -> str | None:
    """The newest served request of ``endpoint`` routed by ``key`` (its stored id), if any.

    An outcome posted for a key (a user converted) joins that user's last prediction.
    """
    query = (
        select(PredictionEventRow.request_id)
        .where(
            PredictionEventRow.endpoint == endpoint,
            PredictionEventRow.key == key[:200],
            PredictionEventRow.shadow.is_(False),
        )
        .order_by(PredictionEventRow.at.desc())
        .limit(1)
    )
    with db.read() as session:
        return session.scalar(query)
