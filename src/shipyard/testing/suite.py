"""What a behavioral suite declares: the four kinds of test, their cases, and its rows.

``Invariance`` (a perturbation must not move the prediction beyond a tolerance),
``Directional`` (a change must move it one way), ``MinimumFunctionality`` (hand-written
cases with an expected value or range) and ``RegressionCases`` (examples a model once
got wrong, kept so every later version is checked against them), each a frozen
dataclass validated when made. ``shipyard.testing.behavioral`` runs them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import pandas as pd

from shipyard.errors import ModelTestError
from shipyard.testing.examples import plain, row_dicts
from shipyard.testing.perturbations import Add, Perturbation, as_perturbation, describe

Expectation = Literal["increase", "decrease", "not_decrease", "not_increase"]
EXPECTATIONS: tuple[str, ...] = ("increase", "decrease", "not_decrease", "not_increase")


@dataclass(frozen=True)
class Case:
    """One hand-written input row with the answer it must get.

    Give ``expected`` (a label, or a number matched within the test's tolerance) or
    ``range`` (inclusive ``(low, high)``), not both.
    """

    inputs: Mapping[str, Any]
    expected: Any = None
    range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not self.inputs:
            raise ModelTestError(
                "a case has no inputs", hint="give {column: value} for each feature"
            )
        if self.range is not None:
            if self.expected is not None:
                raise ModelTestError(
                    f"case {dict(self.inputs)} gives both expected and range",
                    hint="give one of them",
                )
            low, high = (float(v) for v in self.range)
            if low > high:
                raise ModelTestError(
                    f"case {dict(self.inputs)} has range [{low}, {high}] with low > high",
                    hint="write the range as [low, high]",
                )
            object.__setattr__(self, "range", (low, high))
        elif self.expected is None:
            raise ModelTestError(
                f"case {dict(self.inputs)} has neither expected nor range",
                hint="give the answer the model must get, or a [low, high] range",
            )


def as_case(case: Case | Mapping[str, Any] | tuple[Mapping[str, Any], Any]) -> Case:
    """A ``Case`` from itself, a mapping of Case fields, or ``(inputs, expected)``.

    In the tuple form a 2-sequence of numbers is a ``(low, high)`` range.
    """
    if isinstance(case, Case):
        return case
    if isinstance(case, Mapping):
        return Case(**case)
    inputs, answer = case
    if (
        isinstance(answer, (tuple, list))
        and len(answer) == 2
        and all(isinstance(v, (int, float)) for v in answer)
    ):
        return Case(inputs, range=(answer[0], answer[1]))
    return Case(inputs, expected=answer)


@dataclass(frozen=True, kw_only=True)
class _Tolerances:
    tolerance: float = 0.0
    relative: bool = False
    max_failure_rate: float = 0.0

    def _check_tolerances(self, name: str) -> None:
        if self.tolerance < 0:
            raise ModelTestError(f"test '{name}' has tolerance {self.tolerance}", hint="use >= 0")
        if not 0.0 <= self.max_failure_rate <= 1.0:
            raise ModelTestError(
                f"test '{name}' has max_failure_rate {self.max_failure_rate}",
                hint="use a share of rows between 0 and 1",
            )


@dataclass(frozen=True, kw_only=True)
class PerturbationTest(_Tolerances):
    """A test that changes the suite's rows and compares predictions before and after.

    ``where`` is a pandas query selecting the rows it applies to; ``output`` picks one
    column of a model with several outputs.
    """

    where: str | None = None
    output: int | None = None
    kind: ClassVar[str] = "perturbation"


@dataclass(frozen=True)
class Invariance(PerturbationTest):
    """Changing these columns must not move the prediction beyond ``tolerance``.

    ``perturb`` maps a column to a perturbation (``Noise(1.0)``, ``Shuffle()``, any
    callable on the column); a plain value means "set the column to this value".
    ``tolerance`` is absolute, or a share of ``|prediction|`` when ``relative``.
    Label predictions must stay equal.
    """

    name: str
    perturb: Mapping[str, Perturbation | Any]
    kind: ClassVar[str] = "invariance"

    def __post_init__(self) -> None:
        if not self.perturb:
            raise ModelTestError(f"invariance test '{self.name}' perturbs no column")
        self._check_tolerances(self.name)
        object.__setattr__(
            self, "perturb", {str(c): as_perturbation(p) for c, p in self.perturb.items()}
        )

    @property
    def description(self) -> str:
        changes = ", ".join(f"{c}: {describe(p)}" for c, p in self.perturb.items())
        bound = f"{self.tolerance:g}{' of |prediction|' if self.relative else ''}"
        return f"prediction moves by at most {bound} when {changes}"


@dataclass(frozen=True)
class Directional(PerturbationTest):
    """Changing ``column`` must move the prediction as ``expect`` says.

    ``change`` is a delta to add, or a perturbation. Moves within ``tolerance`` (absolute,
    or a share of ``|prediction|`` when ``relative``) count as no move: ``increase``
    needs a rise beyond it, ``not_decrease`` allows a fall within it.
    """

    name: str
    column: str
    change: float | Perturbation
    expect: Expectation
    kind: ClassVar[str] = "directional"

    def __post_init__(self) -> None:
        if self.expect not in EXPECTATIONS:
            raise ModelTestError(
                f"directional test '{self.name}' expects {self.expect!r}",
                hint=f"use one of {', '.join(EXPECTATIONS)}",
            )
        self._check_tolerances(self.name)
        if not callable(self.change):
            object.__setattr__(self, "change", Add(self.change))

    @property
    def perturb(self) -> dict[str, Perturbation]:
        return {self.column: self.change}  # type: ignore[dict-item]

    @property
    def description(self) -> str:
        verb = self.expect.replace("_", " ")
        verb = {"not decrease": "does not decrease", "not increase": "does not increase"}.get(
            verb, f"must {verb}"
        )
        return f"prediction {verb} when {self.column}: {describe(self.perturb[self.column])}"


@dataclass(frozen=True)
class CaseTest(_Tolerances):
    """A test of hand-written cases (``Case``, a mapping, or ``(inputs, answer)``)."""

    name: str
    cases: Sequence[Any]
    kind: ClassVar[str] = "cases"

    def __post_init__(self) -> None:
        if not self.cases:
            raise ModelTestError(f"{self.kind} test '{self.name}' has no cases")
        self._check_tolerances(self.name)
        object.__setattr__(self, "cases", tuple(as_case(c) for c in self.cases))


@dataclass(frozen=True)
class MinimumFunctionality(CaseTest):
    """Hand-written cases, each with an expected value (within tolerance) or a range."""

    kind: ClassVar[str] = "minimum"

    @property
    def description(self) -> str:
        return f"{len(self.cases)} hand-written cases get their expected value or range"


@dataclass(frozen=True)
class RegressionCases(CaseTest):
    """Examples a model once got wrong: every later version must get them right."""

    kind: ClassVar[str] = "regression"

    @property
    def description(self) -> str:
        return f"{len(self.cases)} once-failed cases stay within tolerance of their answer"

    @classmethod
    def from_frame(
        cls,
        name: str,
        frame: pd.DataFrame,
        *,
        expected_column: str = "expected",
        tolerance: float = 0.0,
        relative: bool = False,
        max_failure_rate: float = 0.0,
    ) -> RegressionCases:
        """Cases from a table: one row per case, its answer in ``expected_column``."""
        if expected_column not in frame.columns:
            raise ModelTestError(
                f"regression cases '{name}' have no column '{expected_column}' "
                f"(columns: {', '.join(map(str, frame.columns))})",
                hint="add the correct answers in that column, or name the column that has them",
            )
        inputs = frame.drop(columns=[expected_column])
        cases = [
            Case(row, expected=plain(answer))
            for row, answer in zip(
                row_dicts(inputs, range(len(frame))), frame[expected_column], strict=True
            )
        ]
        return cls(
            name, cases, tolerance=tolerance, relative=relative, max_failure_rate=max_failure_rate
        )

    @classmethod
    def from_file(
        cls,
        name: str,
        path: str | Path,
        *,
        expected_column: str = "expected",
        tolerance: float = 0.0,
        relative: bool = False,
        max_failure_rate: float = 0.0,
    ) -> RegressionCases:
        """Cases from a CSV or Parquet file, as ``from_frame``."""
        return cls.from_frame(
            name,
            read_table(Path(path)),
            expected_column=expected_column,
            tolerance=tolerance,
            relative=relative,
            max_failure_rate=max_failure_rate,
        )


def record_regression_case(
    path: str | Path, inputs: Mapping[str, Any], expected: Any, *, expected_column: str = "expected"
) -> None:
    """Append a case the model got wrong to a CSV of regression cases (created if absent)."""
    path = Path(path)
    row = pd.DataFrame([{**dict(inputs), expected_column: expected}])
    if path.exists():
        existing = pd.read_csv(path)
        if set(existing.columns) != set(row.columns):
            raise ModelTestError(
                f"{path} has columns {sorted(existing.columns)}; the new case has {sorted(row.columns)}",
                hint="give the case the same columns as the file",
            )
        row = pd.concat([existing, row[existing.columns]], ignore_index=True)
    row.to_csv(path, index=False)


BehavioralTest = Invariance | Directional | MinimumFunctionality | RegressionCases


@dataclass(frozen=True)
class DataSource:
    """Where a suite's rows come from: a CSV/Parquet ``file`` or a stored ``dataset``.

    With neither, a registered version's evaluation dataset or input example is used.
    ``where`` (a pandas query) filters, then ``sample`` rows are drawn with ``seed``.
    """

    file: Path | None = None
    dataset: str | None = None
    sample: int | None = None
    seed: int = 0
    where: str | None = None


@dataclass(frozen=True)
class Suite:
    """Named behavioral tests and the rows their perturbations start from."""

    name: str
    tests: tuple[BehavioralTest, ...]
    data: pd.DataFrame | DataSource | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tests", tuple(self.tests))
        seen: set[str] = set()
        for test in self.tests:
            if test.name in seen:
                raise ModelTestError(
                    f"suite '{self.name}' has two tests named '{test.name}'",
                    hint="give each test its own name",
                )
            seen.add(test.name)


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file as a frame (rows to perturb, regression cases)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise ModelTestError(f"{path} cannot be read ({exc})") from None
    raise ModelTestError(f"{path} is neither .csv nor .parquet", hint="convert it to one of them")
