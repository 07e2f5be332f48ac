"""What a running pipeline reports, step by step, to a progress display."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class StepEvent:
    """A step started, finished, was a cache hit, failed or was skipped."""

    node: str
    status: str  # started | cached | succeeded | failed | skipped
    seconds: float | None = None
    error: str | None = None


Progress = Callable[[StepEvent], None]
