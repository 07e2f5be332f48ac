from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shipyard.errors import ModelTestError
from shipyard.testing import (
    Directional,
    Invariance,
    MinimumFunctionality,
    Noise,
    RegressionCases,
    Shuffle,
    SuiteSpecError,
    load_suite_file,
    parse_suites,
    run_suite,
)
from shipyard.testing.perturbations import Add

from .conftest import FEATURES

GOOD = """
model: housing@champion
suites:
  housing-behaviour:
    data: {file: rows.csv, sample: 50, seed: 1}
    tests:
      - directional: {name: more-bathrooms, column: bathrooms, delta: 1, expect: not_decrease}
      - directional: {name: smaller-house, column: sqft, delta: -200, expect: not_increase}
      - invariance: {name: lot-size-noise, column: lot_size, noise: 1.0, tolerance: 0.02, relative: true}
      - invariance:
          name: noise-and-shuffle
          perturb: [{column: lot_size, delta: 1}, {column: bedrooms, shuffle: true, seed: 3}]
          tolerance: 0.5
          relative: true
      - minimum:
          name: typical-house
          cases:
            - inputs: {sqft: 2000, bedrooms: 3, bathrooms: 2, age: 10, lot_size: 5000, region: US, condition: 3}
              range: [100000, 900000]
      - regression: {name: known-mistakes, file: cases.csv, tolerance: 0.1, relative: true}
"""


def write(tmp_path: Path, text: str, name: str = "shipyard_tests.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def suite_dir(tmp_path, make_housing, good_model):
    frame = make_housing(200, seed=7)
    frame[FEATURES].to_csv(tmp_path / "rows.csv", index=False)
    cases = frame[FEATURES].head(3).assign(expected=good_model.predict(frame[FEATURES].head(3)))
    cases.to_csv(tmp_path / "cases.csv", index=False)
    return tmp_path


def test_a_yaml_suite_loads_into_tests_and_runs(suite_dir, good_model, broken_model):
    loaded = load_suite_file(write(suite_dir, GOOD))

    assert loaded.model == "housing@champion"
    (suite,) = loaded.suites
    kinds = [type(t) for t in suite.tests]
    assert kinds == [Directional, Directional, Invariance, Invariance, MinimumFunctionality,
                     RegressionCases]  # fmt: skip
    assert suite.tests[0].change == Add(1)
    assert suite.tests[2].perturb == {"lot_size": Noise(1.0)}
    assert suite.tests[3].perturb["bedrooms"] == Shuffle(seed=3)
    assert len(suite.tests[5].cases) == 3
    assert suite.data.file == suite_dir / "rows.csv" and suite.data.sample == 50

    assert run_suite(suite, good_model).passed
    failed = [r.name for r in run_suite(suite, broken_model).failed]
    assert "more-bathrooms" in failed and "smaller-house" not in failed


def test_every_problem_is_named_with_its_file_key_and_allowed_values(tmp_path):
    path = write(
        tmp_path,
        """
        suites:
          housing:
            data: {sample: 0, fil: rows.csv}
            tests:
              - directional: {name: a, column: bathrooms, delta: 1, expect: up}
              - directional: {name: b, column: bathrooms, shuffle: true, expect: increase}
              - direction: {name: c}
              - invariance: {name: d, perturb: [{column: x, delta: 1, colour: red}]}
              - minimum: {name: e, cases: [{inputs: {x: 1}, range: [5, 1]}, {inputs: {x: 1}}]}
              - regression: {name: f, file: missing.csv}
        """,
    )
    with pytest.raises(SuiteSpecError) as caught:
        load_suite_file(path)

    error = caught.value
    assert isinstance(error, ModelTestError) and isinstance(error, ValueError)
    assert str(error).startswith(f"{path}: 9 problems:")
    where = "suites.housing"
    assert error.problems[:-1] == [
        f"{where}.data.sample: Input should be greater than 0 (got 0)",
        f"{where}.data.fil: unknown key; allowed: file, dataset, sample, seed, where",
        f"{where}.tests[0].directional.expect: Input should be 'increase', 'decrease', "
        "'not_decrease' or 'not_increase' (got 'up')",
        f"{where}.tests[1].directional: give exactly one of delta, scale, set (got: shuffle)",
        f"{where}.tests[2]: a test is a mapping with one key, its kind: "
        "directional, invariance, minimum, regression (got: direction)",
        f"{where}.tests[3].invariance.perturb[0].colour: unknown key; allowed: "
        "delta, scale, set, noise, shuffle, case, seed, column",
        f"{where}.tests[4].minimum.cases[0]: range [5.0, 1.0] has low > high; write [low, high]",
        f"{where}.tests[4].minimum.cases[1]: give exactly one of expected, range: [low, high]",
    ]
    assert error.problems[-1].startswith(f"{where}.tests[5].regression: ")
    assert "missing.csv cannot be read" in error.problems[-1]


def test_missing_regression_file_is_named(tmp_path):
    path = write(
        tmp_path,
        """
        suites:
          s:
            tests:
              - regression: {name: f, file: missing.csv}
        """,
    )
    with pytest.raises(SuiteSpecError, match=r"suites\.s\.tests\[0\]\.regression: .*missing\.csv"):
        load_suite_file(path)


def test_invalid_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "suites:\n  s: [unclosed\n")
    with pytest.raises(SuiteSpecError, match=rf"{path}: line \d+: not valid YAML"):
        load_suite_file(path)


def test_the_top_level_must_hold_suites(tmp_path):
    with pytest.raises(SuiteSpecError, match="suites: Field required"):
        load_suite_file(write(tmp_path, "model: housing\n"))
    with pytest.raises(SuiteSpecError, match="unknown key; allowed: model, suites"):
        load_suite_file(write(tmp_path, "suites: {s: {tests: [{minimum: {}}]}}\nmodle: x\n"))


def test_duplicate_test_names_are_refused(tmp_path):
    text = """
    suites:
      s:
        tests:
          - minimum: {name: same, cases: [{inputs: {x: 1}, expected: 1}]}
          - minimum: {name: same, cases: [{inputs: {x: 1}, expected: 2}]}
    """
    with pytest.raises(SuiteSpecError, match=r"suites\.s: suite 's' has two tests named 'same'"):
        load_suite_file(write(tmp_path, text))


def test_suites_from_a_mapping_as_under_tests_in_shipyard_yaml(tmp_path):
    suites = parse_suites(
        {
            "quick": {
                "tests": [
                    {"minimum": {"name": "m", "cases": [{"inputs": {"x": 1}, "expected": 1}]}}
                ]
            }
        },
        source="shipyard.yaml: tests",
        base_dir=tmp_path,
    )
    assert [s.name for s in suites] == ["quick"]
    with pytest.raises(SuiteSpecError, match=r"shipyard.yaml: tests: quick\.tests: Field required"):
        parse_suites({"quick": {}}, source="shipyard.yaml: tests", base_dir=tmp_path)
