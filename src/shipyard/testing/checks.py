"""What a pre-train check returns, and the error that stops training when one fails."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from shipyard.errors import ModelTestError
from shipyard.testing.examples import plain

Task = Literal["regression", "classification"]
MAX_EXAMPLES = 10


@dataclass(frozen=True)
class CheckResult:
    """One pre-train check's outcome, what it measured, and the examples that failed."""

    name: str
    passed: bool
    details: str
    failing_examples: tuple[dict[str, Any], ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "details": self.details,
            "failing_examples": [plain(e) for e in self.failing_examples],
            "metrics": plain(self.metrics),
        }


@dataclass(frozen=True)
class PretrainReport:
    """The results of a ``PretrainSuite``."""

    results: tuple[CheckResult, ...]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "results": [r.to_dict() for r in self.results]}


class PretrainCheckFailed(ModelTestError):
    """A pre-train check failed, so training would waste its time. ``.report`` has all."""

    def __init__(self, report: PretrainReport) -> None:
        self.report = report
        parts = []
        for result in report.failed:
            first = result.failing_examples[:1]
            shown = f" (e.g. {plain(first[0])})" if first else ""
            parts.append(f"'{result.name}': {result.details}{shown}")
        super().__init__(
            "pre-train check failed: " + " | ".join(parts),
            hint="fix the data or the model before training; all results are on .report",
        )


def task_of(y: pd.Series | np.ndarray) -> Task:
    """Classification for labels (text, booleans, or integers with at most 20 values)."""
    series = pd.Series(np.asarray(y)) if not isinstance(y, pd.Series) else y
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return "classification"
    if pd.api.types.is_integer_dtype(series) and series.nunique() <= 20:
        return "classification"
    return "regression"
