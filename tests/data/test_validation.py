from __future__ import annotations

import json

import pandas as pd

from shipyard.data.validation import (
    DataValidationError,
    RuleFailure,
    ValidationReport,
    report_from_failure_cases,
)


def test_rule_failure_describes_rows_and_column_rules() -> None:
    rows = RuleFailure("area", ">= 10", 7, rows=(4, 9), values=(-1.0, 5.0))
    assert rows.describe() == "column 'area' breaks '>= 10' in 7 rows: row 4 = -1.0, row 9 = 5.0, …"
    whole = RuleFailure("rooms", "dtype int64", 0, values=("int32",))
    assert whole.describe() == "column 'rooms' breaks 'dtype int64' (found 'int32')"


def test_report_raises_only_when_a_rule_is_broken() -> None:
    ValidationReport(rows=3).raise_for_failures()
    failure = RuleFailure("x", "not null", 1, rows=(2,), values=(None,))
    report = ValidationReport(rows=3, failures=(failure,))
    try:
        report.raise_for_failures()
    except DataValidationError as exc:
        assert exc.report is report
        assert "1 data rule(s) broken on 3 rows" in str(exc)
        assert "column 'x' breaks 'not null' in 1 row: row 2 = None" in str(exc)
    else:
        raise AssertionError("expected DataValidationError")


def test_failure_cases_group_by_rule_with_plain_json_values() -> None:
    cases = pd.DataFrame(
        {
            "schema_context": ["DataFrameSchema", "Column", "Column", "Column"],
            "column": [None, "x", "x", "x"],
            "check": [
                "column_in_dataframe",
                "greater_than_or_equal_to(0)",
                "greater_than_or_equal_to(0)",
                "not_nullable",
            ],
            "check_number": [None, 0, 0, None],
            "failure_case": ["y", -1.5, -2.5, float("nan")],
            "index": [None, 3, 8, 5],
        }
    )
    report = report_from_failure_cases(cases, 10, lambda column, n: [">= 0"][n])
    assert [(f.column, f.rule, f.count, f.rows) for f in report.failures] == [
        ("y", "present", 0, ()),
        ("x", ">= 0", 2, (3, 8)),
        ("x", "not null", 1, (5,)),
    ]
    json.dumps(report.to_dict(), allow_nan=False)
