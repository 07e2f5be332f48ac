"""A project's handles: its settings, metadata database and artifact store, opened once.

Every capability takes a ``Project`` rather than reading configuration or opening
connections itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from shipyard.config import Settings, load_settings
from shipyard.store.artifacts import ArtifactStore
from shipyard.store.db import Database


@dataclass
class Project:
    """Settings plus the stores they point at; stores open on first use."""

    settings: Settings

    @classmethod
    def open(cls, root: str | Path | None = None, *, overrides: Iterable[str] = ()) -> Project:
        """Open the project at ``root`` (default: the current directory)."""
        return cls(load_settings(root, overrides=overrides))

    @property
    def root(self) -> Path:
        return self.settings.root

    @cached_property
    def db(self) -> Database:
        return Database(self.settings.store_url)

    @cached_property
    def artifacts(self) -> ArtifactStore:
        return ArtifactStore(self.settings.artifacts_url)
