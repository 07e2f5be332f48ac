"""Dataset: an immutable snapshot of a frame, named by the sha256 of its Parquet bytes.

``Dataset.snapshot`` encodes the frame deterministically (``data.parquet``), stores the
bytes in the project's artifact store, profiles what was stored and records it in the
metadata store; ``Dataset.load`` finds it again by digest, digest prefix or name.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from shipyard.data.parquet import read_parquet_bytes, to_parquet_bytes
from shipyard.data.profile import Profile, profile_frame
from shipyard.errors import DataError
from shipyard.store.artifacts import ArtifactStore
from shipyard.store.datasets import DatasetRecord, DatasetStore

if TYPE_CHECKING:
    from shipyard.data.schema import DataSchema
    from shipyard.project import Project

MAX_NAME = 200
_DIGEST = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Dataset:
    """A stored snapshot: its digest and name, shape, dtypes and profile.

    ``schema`` maps each column to the dtype ``to_pandas()`` gives it. Two snapshots of
    the same rows are the same dataset (one digest), whatever they were called.

    Example:
        >>> ds = Dataset.snapshot(df, "housing", project)
        >>> ds.digest[:12], ds.rows, ds.profile["price"].quantiles["p50"]
        >>> Dataset.load("housing", project).to_pandas()
    """

    digest: str
    name: str
    rows: int
    columns: tuple[str, ...]
    schema: Mapping[str, str]
    profile: Profile = field(repr=False)
    created_at: datetime | None = None
    artifacts: ArtifactStore | None = field(default=None, repr=False, compare=False)

    @classmethod
    def snapshot(
        cls,
        df: pd.DataFrame,
        name: str,
        project: Project,
        *,
        schema: DataSchema | None = None,
        bins: int = 20,
    ) -> Dataset:
        """Store ``df`` as a dataset called ``name``; a no-op when its bytes are stored.

        Args:
            df: the rows. Named index levels are kept as columns; an unnamed index is
                dropped.
            name: a name to find it by; ``Dataset.load(name, ...)`` gives the newest.
            project: where the bytes and the record go.
            schema: when given, the frame is checked first and nothing is stored if
                it breaks a rule.
            bins: histogram bins per numeric column in the profile.

        Raises:
            DataValidationError: when ``schema`` is given and a rule is broken.
            DataError: for a bad name or a frame Parquet cannot hold.
        """
        _check_name(name)
        if schema is not None:
            schema.check(df)
        data = to_parquet_bytes(df)
        digest = project.artifacts.put_bytes(data)
        store = DatasetStore(project.db)
        try:
            record = store.get(digest)
        except LookupError:
            stored = read_parquet_bytes(data)  # profile exactly what readers will get
            record = store.record(
                digest=digest,
                name=name,
                rows=len(stored),
                columns=[str(c) for c in stored.columns],
                schema={str(c): str(t) for c, t in stored.dtypes.items()},
                profile=profile_frame(stored, bins=bins).to_dict(),
            )
        if record.name != name:
            warnings.warn(
                f"these rows are already stored as dataset '{record.name}' "
                f"({digest[:12]}); it keeps that name, so load it by that name or digest",
                stacklevel=2,
            )
        return cls._from_record(record, project.artifacts)

    @classmethod
    def load(cls, ref: str, project: Project) -> Dataset:
        """A stored dataset by full digest, name (the newest of that name) or digest prefix.

        Raises:
            NotFoundError: when nothing matches (the hint says how to list datasets).
            AmbiguousDatasetError: when a digest prefix matches several.
        """
        record = DatasetStore(project.db).find(ref)
        return cls._from_record(record, project.artifacts)

    @classmethod
    def from_parquet(
        cls,
        path: str | Path,
        project: Project,
        *,
        name: str | None = None,
        schema: DataSchema | None = None,
    ) -> Dataset:
        """Snapshot a Parquet file (named after the file unless ``name`` is given)."""
        try:
            df = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read Parquet file {path}: {exc}") from None
        return cls.snapshot(df, name or Path(path).stem, project, schema=schema)

    @classmethod
    def from_csv(
        cls,
        path: str | Path,
        project: Project,
        *,
        name: str | None = None,
        schema: DataSchema | None = None,
        **read_csv: Any,
    ) -> Dataset:
        """Snapshot a CSV file; ``read_csv`` options go to ``pandas.read_csv``."""
        try:
            df = pd.read_csv(path, **read_csv)
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read CSV file {path}: {exc}") from None
        return cls.snapshot(df, name or Path(path).stem, project, schema=schema)

    def to_pandas(self) -> pd.DataFrame:
        """The rows, read back from the artifact store after checking their sha256.

        Raises:
            StoreError: when the stored bytes no longer match the digest.
            NotFoundError: when the bytes are missing from the artifact store.
        """
        if self.artifacts is None:
            raise DataError(
                f"dataset '{self.name}' is not attached to an artifact store",
                hint="get it from Dataset.load(ref, project) or Dataset.snapshot(...)",
            )
        return read_parquet_bytes(self.artifacts.get_bytes(self.digest, verify=True))

    def to_dict(self, *, sample: bool = True) -> dict[str, Any]:
        """A JSON-safe dict; ``sample=False`` leaves the profile's raw samples out."""
        return {
            "digest": self.digest,
            "name": self.name,
            "rows": self.rows,
            "columns": list(self.columns),
            "schema": dict(self.schema),
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "profile": self.profile.to_dict(sample=sample),
        }

    @classmethod
    def _from_record(cls, record: DatasetRecord, artifacts: ArtifactStore) -> Dataset:
        return cls(
            digest=record.digest,
            name=record.name,
            rows=record.rows,
            columns=record.columns,
            schema=dict(record.schema),
            profile=Profile.from_dict(record.profile or {}),
            created_at=record.created_at,
            artifacts=artifacts,
        )


def _check_name(name: str) -> None:
    if (
        not isinstance(name, str)
        or not name
        or name != name.strip()
        or len(name) > MAX_NAME
        or not name.isprintable()
        or _DIGEST.fullmatch(name)
    ):
        raise DataError(
            f"{name!r} is not a valid dataset name",
            hint=f"use 1 to {MAX_NAME} printable characters, no surrounding spaces, "
            "and not something that reads as a sha256 digest",
        )
