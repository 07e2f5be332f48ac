from __future__ import annotations

import pandas as pd
import pytest

from shipyard.errors import ModelTestError
from shipyard.testing import (
    Case,
    Directional,
    Invariance,
    MinimumFunctionality,
    RegressionCases,
    Suite,
    record_regression_case,
)
from shipyard.testing.suite import as_case


def test_case_needs_exactly_one_answer_and_an_ordered_range():
    with pytest.raises(ModelTestError, match="neither expected nor range"):
        Case({"x": 1})
    with pytest.raises(ModelTestError, match="both expected and range"):
        Case({"x": 1}, expected=1, range=(0, 2))
    with pytest.raises(ModelTestError, match="low > high"):
        Case({"x": 1}, range=(2, 0))
    with pytest.raises(ModelTestError, match="no inputs"):
        Case({}, expected=1)


def test_tuple_cases_read_a_pair_of_numbers_as_a_range():
    assert as_case(({"x": 1}, (0, 10))).range == (0.0, 10.0)
    assert as_case(({"x": 1}, "yes")).expected == "yes"
    assert as_case({"inputs": {"x": 1}, "expected": 3}).expected == 3


def test_declarations_refuse_bad_values_with_the_allowed_ones():
    with pytest.raises(ModelTestError, match="use one of increase, decrease"):
        Directional("d", "x", 1, expect="up")  # type: ignore[arg-type]
    with pytest.raises(ModelTestError, match="tolerance -1"):
        Invariance("i", {"x": 1}, tolerance=-1)
    with pytest.raises(ModelTestError, match="max_failure_rate 2"):
        MinimumFunctionality("m", [({"x": 1}, 1)], max_failure_rate=2)
    with pytest.raises(ModelTestError, match="perturbs no column"):
        Invariance("i", {})
    with pytest.raises(ModelTestError, match="no cases"):
        RegressionCases("r", [])


def test_suite_refuses_two_tests_of_one_name():
    test = Directional("d", "x", 1, expect="increase")
    with pytest.raises(ModelTestError, match="two tests named 'd'"):
        Suite("s", (test, test))


def test_recorded_regression_cases_are_read_back(tmp_path):
    path = tmp_path / "cases.csv"
    record_regression_case(path, {"sqft": 900, "region": "VN"}, 120_000)
    record_regression_case(path, {"region": "DE", "sqft": 2500}, 610_000)

    cases = RegressionCases.from_file("known", path, tolerance=0.1, relative=True)
    assert [c.inputs for c in cases.cases] == [
        {"sqft": 900, "region": "VN"},
        {"sqft": 2500, "region": "DE"},
    ]
    assert [c.expected for c in cases.cases] == [120_000, 610_000]
    with pytest.raises(ModelTestError, match="columns"):
        record_regression_case(path, {"sqft": 1}, 1)


def test_regression_cases_name_a_missing_answer_column():
    frame = pd.DataFrame({"sqft": [1], "price": [2]})
    with pytest.raises(ModelTestError, match=r"no column 'expected'.*sqft, price"):
        RegressionCases.from_frame("known", frame)
    assert (
        RegressionCases.from_frame("known", frame, expected_column="price").cases[0].expected == 2
    )
