"""What the root options give every command: the project directory, overrides, debug."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer


@dataclass(frozen=True)
class State:
    root: Path
    overrides: tuple[str, ...]
    debug: bool

    def project(self) -> Any:
        from shipyard.project import Project

        return Project.open(self.root, overrides=self.overrides)


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    if not isinstance(obj, State):  # called without the root callback (tests)
        obj = State(Path.cwd(), (), False)
    return obj
