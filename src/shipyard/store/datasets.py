"""Dataset records: digest, name, shape, schema and profile, persisted.

``DatasetStore`` is the only writer of the ``datasets`` table. A dataset is keyed by the
sha256 of its Parquet bytes, so recording the same bytes twice keeps one row (the
first, with its name and time). Reads return frozen dataclasses with the schema and
profile as plain JSON dicts; ``shipyard.data`` turns them into its own types.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from shipyard.errors import NotFoundError, StoreError
from shipyard.store.db import Database
from shipyard.store.schema import DatasetRow

MIN_PREFIX = 4
_HEX = re.compile(r"[0-9a-f]+")
_LIST_HINT = "see `shipyard datasets list` for the datasets in this project"


@dataclass(frozen=True)
class DatasetRecord:
    """One stored dataset. ``profile`` is None in listings (it can be large)."""

    digest: str
    name: str
    rows: int
    columns: tuple[str, ...]
    schema: Mapping[str, str]
    created_at: datetime
    profile: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "digest": self.digest,
            "name": self.name,
            "rows": self.rows,
            "columns": list(self.columns),
            "schema": dict(self.schema),
            "created_at": self.created_at.isoformat(),
        }
        if self.profile is not None:
            out["profile"] = dict(self.profile)
        return out


class AmbiguousDatasetError(StoreError, LookupError):
    """A digest prefix matches more than one dataset."""

    def __init__(self, prefix: str, matches: Sequence[str]) -> None:
        self.prefix = prefix
        self.matches = tuple(matches)
        shown = ", ".join(m[:12] for m in self.matches[:5])
        super().__init__(
            f"dataset prefix '{prefix}' matches more than one dataset ({shown})",
            hint="give more digits of the digest",
        )


class DatasetStore:
    """Records and finds datasets in the metadata database.

    Args:
        db: the project's metadata database.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self,
        *,
        digest: str,
        name: str,
        rows: int,
        columns: Sequence[str],
        schema: Mapping[str, str],
        profile: Mapping[str, Any],
        created_at: datetime | None = None,
    ) -> DatasetRecord:
        """Store a dataset's record, once per digest; returns the stored record.

        Recording a digest that is already stored changes nothing and returns the
        existing record, whose name may differ from ``name``. Safe under concurrent
        writers: the insert is an ``ON CONFLICT DO NOTHING``.
        """
        _check_digest(digest)
        values = {
            "digest": digest,
            "name": name,
            "rows": int(rows),
            "columns": list(columns),
            "schema": dict(schema),
            "profile": dict(profile),
            "created_at": created_at or datetime.now(UTC),
        }
        dialect = self.db.engine.dialect.name
        if dialect == "postgresql":
            stmt: Any = postgresql.insert(DatasetRow).values(**values)
        elif dialect == "sqlite":
            stmt = sqlite.insert(DatasetRow).values(**values)
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported stores
            raise StoreError(f"datasets cannot be recorded in a {dialect} database")
        with self.db.transaction() as session:
            session.execute(stmt.on_conflict_do_nothing(index_elements=["digest"]))
        return self.get(digest)

    def get(self, digest: str) -> DatasetRecord:
        """The dataset with exactly this digest.

        Raises:
            NotFoundError: when no dataset has it.
        """
        with self.db.read() as session:
            row = session.get(DatasetRow, digest)
            if row is None:
                raise NotFoundError("dataset", digest, hint=_LIST_HINT)
            return _record(row, with_profile=True)

    def find(self, ref: str) -> DatasetRecord:
        """A dataset by full digest, by name (the newest of that name), or by digest prefix.

        Looked up in that order, so a name wins over a prefix it happens to spell.

        Raises:
            NotFoundError: when nothing matches.
            AmbiguousDatasetError: when a prefix matches several datasets.
        """
        ref = ref.strip()
        with self.db.read() as session:
            found = None
            if len(ref) == 64:
                found = session.scalar(select(DatasetRow.digest).where(DatasetRow.digest == ref))
            if found is None:
                found = session.scalars(
                    select(DatasetRow.digest)
                    .where(DatasetRow.name == ref)
                    .order_by(DatasetRow.created_at.desc(), DatasetRow.digest)
                    .limit(1)
                ).first()
            if found is None and len(ref) >= MIN_PREFIX and _HEX.fullmatch(ref):
                matches = session.scalars(
                    select(DatasetRow.digest).where(DatasetRow.digest.startswith(ref)).limit(6)
                ).all()
                if len(matches) > 1:
                    raise AmbiguousDatasetError(ref, matches)
                found = matches[0] if matches else None
        if found is None:
            raise NotFoundError(
                "dataset",
                ref,
                hint=f"give a name, a full digest or at least {MIN_PREFIX} hex digits of one; "
                + _LIST_HINT,
            )
        return self.get(found)

    def list(self, *, name: str | None = None, limit: int | None = None) -> list[DatasetRecord]:
        """Datasets, newest first, without their profiles.

        Args:
            name: only datasets of this name (its versions).
            limit: at most this many.
        """
        query = select(
            DatasetRow.digest,
            DatasetRow.name,
            DatasetRow.rows,
            DatasetRow.columns,
            DatasetRow.schema,
            DatasetRow.created_at,
        ).order_by(DatasetRow.created_at.desc(), DatasetRow.digest)
        if name is not None:
            query = query.where(DatasetRow.name == name)
        if limit is not None:
            query = query.limit(limit)
        with self.db.read() as session:
            return [_record(row, with_profile=False) for row in session.execute(query)]


def _record(row: Any, *, with_profile: bool) -> DatasetRecord:
    created = row.created_at
    if created.tzinfo is None:  # SQLite keeps no zone; every time is written in UTC
        created = created.replace(tzinfo=UTC)
    return DatasetRecord(
        digest=row.digest,
        name=row.name,
        rows=row.rows,
        columns=tuple(row.columns),
        schema=dict(row.schema),
        created_at=created,
        profile=dict(row.profile) if with_profile else None,
    )


def _check_digest(digest: str) -> None:
    if len(digest) != 64 or not _HEX.fullmatch(digest):
        raise StoreError(f"{digest!r} is not a sha256 digest", hint="pass 64 lowercase hex digits")
