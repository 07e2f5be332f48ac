"""Persistence of model names, versions, aliases, tags and the alias audit log.

Versions are numbered 1, 2, 3, ... per model inside one transaction that holds the
model's row lock, so two processes registering at once get distinct numbers (SQLite
serialises writers with ``BEGIN IMMEDIATE``; PostgreSQL with ``SELECT ... FOR UPDATE``).
Every alias move writes an ``AliasEventRow`` in the same transaction as the move.
Lookups return ``None`` for what is absent; the registry turns that into errors with
hints, because only it knows what the user asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shipyard.errors import NotFoundError, StoreError
from shipyard.store.db import Database
from shipyard.store.schema import AliasEventRow, AliasRow, ModelRow, ModelVersionRow


@dataclass(frozen=True)
class ModelVersion:
    """One immutable registered bundle: ``name:version``.

    ``tags`` and ``details`` are annotations about the version (test results, the
    evaluation dataset, free labels); the bundle behind ``bundle_digest`` never changes.
    """

    name: str
    version: int
    run_id: str | None
    bundle_digest: str
    flavor: str
    size_bytes: int
    created_at: datetime
    tags: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        """The canonical reference, ``name:version``."""
        return f"{self.name}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)


@dataclass(frozen=True)
class RegisteredModel:
    """A model name with a summary of its versions and where its aliases point."""

    name: str
    created_at: datetime
    description: str | None
    latest_version: int | None
    version_count: int
    aliases: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)


@dataclass(frozen=True)
class AliasEvent:
    """One alias move: ``to_version`` None means the alias was removed."""

    id: int
    name: str
    alias: str
    from_version: int | None
    to_version: int | None
    actor: str
    reason: str | None
    forced: bool
    evidence: Mapping[str, Any]
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)


def _plain(record: Any) -> dict[str, Any]:
    """A record as JSON-ready values: datetimes as ISO strings, tuples as lists."""
    out = asdict(record)
    for key, value in out.items():
        if isinstance(value, datetime):
            out[key] = value.isoformat()
        elif isinstance(value, tuple):
            out[key] = list(value)
    return out


class AliasMovedError(StoreError, RuntimeError):
    """An alias no longer points where the caller's decision assumed it did."""

    def __init__(self, name: str, alias: str, expected: int | None, actual: int | None) -> None:
        self.name = name
        self.alias = alias
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"alias '{alias}' of model '{name}' points at {_show(actual)}, "
            f"not {_show(expected)} as when the decision was made",
            hint="someone moved it meanwhile; look at the alias history and decide again",
        )


def _show(version: int | None) -> str:
    return "no version" if version is None else f"version {version}"


# `expected_from=UNCHECKED`: move the alias wherever it points now
UNCHECKED: Any = object()


class RegistryStore:
    """Reads and writes the registry tables of one metadata database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ versions
    def add_version(
        self,
        name: str,
        *,
        bundle_digest: str,
        flavor: str,
        size_bytes: int,
        run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        details: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        """Add the next version of ``name``, creating the model on first use."""
        now = datetime.now(UTC)
        with self.db.transaction() as session:
            _insert_model_if_absent(session, name, now, description)
            # the row lock queues concurrent registrations of one model (PostgreSQL);
            # SQLite already holds the database write lock since BEGIN IMMEDIATE
            session.execute(select(ModelRow.name).where(ModelRow.name == name).with_for_update())
            latest = session.scalar(
                select(func.max(ModelVersionRow.version)).where(ModelVersionRow.name == name)
            )
            row = ModelVersionRow(
                name=name,
                version=(latest or 0) + 1,
                run_id=run_id,
                bundle_digest=bundle_digest,
                flavor=flavor,
                size_bytes=size_bytes,
                created_at=now,
                tags=dict(tags or {}),
                details=dict(details or {}),
            )
            session.add(row)
            session.flush()
            return _version(row, ())

    def find_version(self, name: str, version: int) -> ModelVersion | None:
        with self.db.read() as session:
            row = session.get(ModelVersionRow, (name, version))
            if row is None:
                return None
            return _version(row, _aliases_of(session, name).get(version, ()))

    def latest_version(self, name: str) -> int | None:
        with self.db.read() as session:
            return session.scalar(
                select(func.max(ModelVersionRow.version)).where(ModelVersionRow.name == name)
            )

    def list_versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first (empty for an unknown name)."""
        with self.db.read() as session:
            rows = session.scalars(
                select(ModelVersionRow)
                .where(ModelVersionRow.name == name)
                .order_by(ModelVersionRow.version)
            ).all()
            by_version = _aliases_of(session, name)
            return [_version(r, by_version.get(r.version, ())) for r in rows]

    def update_tags(self, name: str, version: int, tags: Mapping[str, str | None]) -> ModelVersion:
        """Set tags on a version; a value of None removes that tag."""

        def change(row: ModelVersionRow) -> None:
            merged = dict(row.tags)
            for key, value in tags.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            row.tags = merged

        return self._change_version(name, version, change)

    def update_details(
        self, name: str, version: int, key: str, entries: Mapping[str, Any]
    ) -> ModelVersion:
        """Merge ``entries`` into ``details[key]`` (a mapping) under the row lock."""

        def change(row: ModelVersionRow) -> None:
            details = dict(row.details)
            section = dict(details.get(key) or {})
            section.update(entries)
            details[key] = section
            row.details = details  # a new object, so the JSON column is written

        return self._change_version(name, version, change)

    def _change_version(self, name: str, version: int, change: Any) -> ModelVersion:
        with self.db.transaction() as session:
            row = session.scalars(
                select(ModelVersionRow)
                .where(ModelVersionRow.name == name, ModelVersionRow.version == version)
                .with_for_update()
            ).one_or_none()
            if row is None:
                raise _missing_version(name, version)
            change(row)
            session.flush()
            return _version(row, _aliases_of(session, name).get(version, ()))

    # ------------------------------------------------------------------ models
    def find_model(self, name: str) -> RegisteredModel | None:
        models = self._models(name)
        return models[0] if models else None

    def list_models(self) -> list[RegisteredModel]:
        """Every model, by name."""
        return self._models(None)

    def _models(self, name: str | None) -> list[RegisteredModel]:
        with self.db.read() as session:
            stats = (
                select(
                    ModelVersionRow.name,
                    func.max(ModelVersionRow.version).label("latest"),
                    func.count().label("n"),
                )
                .group_by(ModelVersionRow.name)
                .subquery()
            )
            query = (
                select(ModelRow, stats.c.latest, stats.c.n)
                .outerjoin(stats, stats.c.name == ModelRow.name)
                .order_by(ModelRow.name)
            )
            alias_query = select(AliasRow)
            if name is not None:
                query = query.where(ModelRow.name == name)
                alias_query = alias_query.where(AliasRow.name == name)
            aliases: dict[str, dict[str, int]] = {}
            for alias in session.scalars(alias_query):
                aliases.setdefault(alias.name, {})[alias.alias] = alias.version
            return [
                RegisteredModel(
                    name=model.name,
                    created_at=model.created_at,
                    description=model.description,
                    latest_version=latest,
                    version_count=n or 0,
                    aliases=dict(sorted(aliases.get(model.name, {}).items())),
                )
                for model, latest, n in session.execute(query)
            ]

    # ------------------------------------------------------------------ aliases
    def aliases(self, name: str) -> dict[str, int]:
        """Alias -> version for one model."""
        with self.db.read() as session:
            rows = session.scalars(
                select(AliasRow).where(AliasRow.name == name).order_by(AliasRow.alias)
            )
            return {r.alias: r.version for r in rows}

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        *,
        actor: str,
        reason: str | None = None,
        forced: bool = False,
        evidence: Mapping[str, Any] | None = None,
        expected_from: int | None = UNCHECKED,
    ) -> AliasEvent:
        """Point ``alias`` at ``version`` (None removes it) and record the move.

        Args:
            expected_from: when given, the move happens only if the alias still points
                there (None: is unset); the gate passes the champion it compared against.

        Raises:
            AliasMovedError: the alias moved since the caller looked (``expected_from``).
            NotFoundError: the version does not exist.
        """
        now = datetime.now(UTC)
        with self.db.transaction() as session:
            session.execute(select(ModelRow.name).where(ModelRow.name == name).with_for_update())
            if version is not None and session.get(ModelVersionRow, (name, version)) is None:
                raise _missing_version(name, version)
            row = session.get(AliasRow, (name, alias))
            current = row.version if row is not None else None
            if expected_from is not UNCHECKED and current != expected_from:
                raise AliasMovedError(name, alias, expected_from, current)
            if version is None:
                if row is not None:
                    session.delete(row)
            elif row is None:
                session.add(AliasRow(name=name, alias=alias, version=version))
            else:
                row.version = version
            event = AliasEventRow(
                name=name,
                alias=alias,
                from_version=current,
                to_version=version,
                actor=actor,
                reason=reason,
                forced=forced,
                evidence=dict(evidence or {}),
                at=now,
            )
            session.add(event)
            session.flush()
            return _event(event)

    def history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        """Every alias move of ``name`` (optionally of one alias), oldest first."""
        with self.db.read() as session:
            query = select(AliasEventRow).where(AliasEventRow.name == name)
            if alias is not None:
                query = query.where(AliasEventRow.alias == alias)
            return [_event(r) for r in session.scalars(query.order_by(AliasEventRow.id))]


def _insert_model_if_absent(
    session: Session, name: str, now: datetime, description: str | None
) -> None:
    # INSERT ... ON CONFLICT DO NOTHING: a concurrent first registration of the same
    # name waits for the other transaction instead of failing on the primary key
    dialect = session.get_bind().dialect.name
    values = {"name": name, "created_at": now, "description": description}
    if dialect == "postgresql":
        session.execute(postgresql.insert(ModelRow).values(values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        session.execute(sqlite.insert(ModelRow).values(values).on_conflict_do_nothing())
    elif session.get(ModelRow, name) is None:
        session.add(ModelRow(**values))
        session.flush()


def _aliases_of(session: Session, name: str) -> dict[int, tuple[str, ...]]:
    out: dict[int, list[str]] = {}
    for row in session.scalars(
        select(AliasRow).where(AliasRow.name == name).order_by(AliasRow.alias)
    ):
        out.setdefault(row.version, []).append(row.alias)
    return {v: tuple(a) for v, a in out.items()}


def _missing_version(name: str, version: int) -> NotFoundError:
    return NotFoundError("model version", f"{name}:{version}")


def _version(row: ModelVersionRow, aliases: tuple[str, ...]) -> ModelVersion:
    return ModelVersion(
        name=row.name,
        version=row.version,
        run_id=row.run_id,
        bundle_digest=row.bundle_digest,
        flavor=row.flavor,
        size_bytes=row.size_bytes,
        created_at=_utc(row.created_at),
        tags=dict(row.tags or {}),
        details=dict(row.details or {}),
        aliases=aliases,
    )


def _event(row: AliasEventRow) -> AliasEvent:
    return AliasEvent(
        id=row.id,
        name=row.name,
        alias=row.alias,
        from_version=row.from_version,
        to_version=row.to_version,
        actor=row.actor,
        reason=row.reason,
        forced=bool(row.forced),
        evidence=dict(row.evidence or {}),
        at=_utc(row.at),
    )


def _utc(value: datetime) -> datetime:
    # SQLite gives back naive datetimes for timezone-aware columns
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
