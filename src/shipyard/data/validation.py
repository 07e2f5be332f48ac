"""The outcome of checking a frame against a DataSchema, and the error that stops a run.

pandera does the checking (lazily, so every broken rule is reported at once); this
module turns its failure table into rules a person reads: the column, the rule in the
schema's own words, how many rows break it, and the first few of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from shipyard.errors import DataError

SHOWN = 5  # offending rows named per rule


@dataclass(frozen=True)
class RuleFailure:
    """One broken rule: the column, the rule, and which rows break it.

    ``count`` is the number of offending rows (0 for a rule about the whole column,
    such as a missing column or a wrong dtype); ``rows`` are the first few offending
    row labels (the frame's index) and ``values`` their values, in the same order.
    """

    column: str
    rule: str
    count: int
    rows: tuple[Any, ...] = ()
    values: tuple[Any, ...] = ()

    def describe(self) -> str:
        """One line, e.g. ``column 'area' breaks '>= 10' in 3 rows: row 4 = -1.0, ...``."""
        head = f"column '{self.column}' breaks {self.rule!r}"
        if not self.rows:
            found = f" (found {self.values[0]!r})" if self.values else ""
            return head + found
        shown = ", ".join(f"row {r} = {v!r}" for r, v in zip(self.rows, self.values, strict=True))
        more = ", …" if self.count > len(self.rows) else ""
        plural = "row" if self.count == 1 else "rows"
        return f"{head} in {self.count} {plural}: {shown}{more}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "rule": self.rule,
            "count": self.count,
            "rows": list(self.rows),
            "values": list(self.values),
        }


@dataclass(frozen=True)
class ValidationReport:
    """Every rule a frame breaks; ``ok`` when there are none."""

    rows: int
    failures: tuple[RuleFailure, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failures

    def describe(self) -> str:
        if self.ok:
            return f"all rules hold on {self.rows} rows"
        lines = [f"{len(self.failures)} data rule(s) broken on {self.rows} rows:"]
        lines += [f"  - {f.describe()}" for f in self.failures]
        return "\n".join(lines)

    def raise_for_failures(self) -> None:
        """Raise DataValidationError when a rule is broken; do nothing otherwise."""
        if not self.ok:
            raise DataValidationError(self)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "rows": self.rows, "failures": [f.to_dict() for f in self.failures]}


class DataValidationError(DataError, ValueError):
    """A frame breaks its schema; the message names each column, rule and offending rows."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        self.failures = report.failures
        super().__init__(
            report.describe(),
            hint="fix the data, or change the schema if the rule is wrong",
        )


# pandera's names for the rules it checks itself, in the schema's words
_PANDERA_RULES = {
    "column_in_dataframe": "present",
    "column_in_schema": "declared in the schema (strict)",
    "not_nullable": "not null",
    "field_uniqueness": "unique",
}


def report_from_failure_cases(
    cases: pd.DataFrame, rows: int, rule_of_check: Callable[[str, int], str | None]
) -> ValidationReport:
    """Group pandera's ``SchemaErrors.failure_cases`` into one RuleFailure per rule.

    Args:
        cases: the failure table (``column``, ``check``, ``check_number``,
            ``failure_case``, ``index``).
        rows: the number of rows validated.
        rule_of_check: names a user check by column and check number.
    """
    grouped: dict[tuple[str, str], list[tuple[Any, Any]]] = {}
    for record in cases.to_dict("records"):
        column, rule = _column_and_rule(record, rule_of_check)
        grouped.setdefault((column, rule), []).append(
            (_plain(record.get("index")), _plain(record.get("failure_case")))
        )
    failures = []
    for (column, rule), cases_ in grouped.items():
        located = [(i, v) for i, v in cases_ if i is not None]
        if located:
            failures.append(
                RuleFailure(
                    column=column,
                    rule=rule,
                    count=len(located),
                    rows=tuple(i for i, _ in located[:SHOWN]),
                    values=tuple(v for _, v in located[:SHOWN]),
                )
            )
        else:
            found = () if rule == "present" else (cases_[0][1],)
            failures.append(RuleFailure(column=column, rule=rule, count=0, values=found))
    return ValidationReport(rows=rows, failures=tuple(failures))


def _column_and_rule(
    record: dict[str, Any], rule_of_check: Callable[[str, int], str | None]
) -> tuple[str, str]:
    check = str(record.get("check"))
    column = record.get("column")
    if record.get("schema_context") == "DataFrameSchema" or not isinstance(column, str):
        # frame-level rules report the column name as the failure case
        column = record.get("failure_case")
    column = str(column)
    if check in _PANDERA_RULES:
        return column, _PANDERA_RULES[check]
    if check.startswith("dtype("):
        return column, "dtype " + check[len("dtype(") : -1].strip("'\"")
    number = _plain(record.get("check_number"))
    if number is not None:
        rule = rule_of_check(column, int(number))
        if rule is not None:
            return column, rule
    return column, check


def _plain(value: Any) -> Any:
    """A JSON-friendly Python value: numpy scalars unwrapped, NaN and NA as None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, TypeError):
            return str(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
