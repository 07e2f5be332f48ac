"""The pytest plugin, run by pytester in a fresh directory with a YAML suite."""

from __future__ import annotations

import io
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# The model handed to the plugin by a conftest hook, as a user would for a model built
# in a fixture; `bathrooms_effect` flips the sign to make the broken version.
CONFTEST = """
import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression

EFFECT = {effect}


def pytest_shipyard_load_model(ref, config):
    rng = np.random.default_rng(0)
    rows = pd.read_csv("rows.csv")
    price = 150 * rows["sqft"] + EFFECT * rows["bathrooms"] + rng.normal(0, 5000, len(rows))
    return LinearRegression().fit(rows, price)
"""

SUITES = """
model: housing:1
suites:
  behaviour:
    data: {file: rows.csv, sample: 30}
    tests:
      - directional: {name: more-bathrooms, column: bathrooms, delta: 1, expect: not_decrease}
      - directional: {name: smaller-house, column: sqft, delta: -200, expect: not_increase}
  cases:
    tests:
      - minimum:
          name: typical
          cases: [{inputs: {sqft: 2000, bathrooms: 2}, range: [100000, 900000]}]
"""


ROWS = "\n".join(["sqft,bathrooms"] + [f"{500 + 37 * i},{1 + i % 3}" for i in range(60)])


def plugin_args() -> list[str]:
    installed = any(
        ep.value == "shipyard.testing.pytest_plugin" for ep in entry_points(group="pytest11")
    )
    return [] if installed else ["-p", "shipyard.testing.pytest_plugin"]


@pytest.fixture
def suite_dir(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".csv", rows=ROWS)
    pytester.makefile(".yaml", shipyard_tests=textwrap.dedent(SUITES))
    return pytester


def test_each_behavioral_test_is_a_pytest_item_that_passes(suite_dir: pytest.Pytester):
    suite_dir.makeconftest(CONFTEST.format(effect=15_000))
    result = suite_dir.runpytest(*plugin_args(), "-v")

    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*shipyard_tests.yaml::behaviour::more-bathrooms PASSED*",
            "*shipyard_tests.yaml::behaviour::smaller-house PASSED*",
            "*shipyard_tests.yaml::cases::typical PASSED*",
        ]
    )


def test_a_failing_test_prints_its_failing_examples(suite_dir: pytest.Pytester):
    suite_dir.makeconftest(CONFTEST.format(effect=-15_000))
    result = suite_dir.runpytest(*plugin_args())

    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*directional test 'more-bathrooms' failed: prediction does not decrease*",
            "30 of 30 failed (100.0%; allowed 0.0%)",
            "worst 5 examples:",
            "  1. inputs {sqft=*, bathrooms=*}; changed {bathrooms=*}; before *; after *; change -*",
            "FAILED shipyard_tests.yaml::behaviour::more-bathrooms - directional test*",
        ]
    )


def test_one_test_is_selected_by_its_node_id(suite_dir: pytest.Pytester):
    suite_dir.makeconftest(CONFTEST.format(effect=-15_000))
    result = suite_dir.runpytest(*plugin_args(), "shipyard_tests.yaml::behaviour::smaller-house")
    result.assert_outcomes(passed=1)


def test_an_invalid_suite_file_is_a_collection_error_naming_the_key(suite_dir: pytest.Pytester):
    suite_dir.makefile(
        ".yaml",
        shipyard_tests="suites:\n  s:\n    tests:\n      - directional: {name: d, column: x, delta: 1, expect: up}\n",
    )
    result = suite_dir.runpytest(*plugin_args())
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*suites.s.tests[[]0[]].directional.expect: Input should be*"])


def test_without_a_model_reference_each_test_says_how_to_give_one(suite_dir: pytest.Pytester):
    suite_dir.makefile(
        ".yaml", shipyard_tests=textwrap.dedent(SUITES).replace("model: housing:1\n", "")
    )
    result = suite_dir.runpytest(*plugin_args())
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        ["*no model to test for shipyard_tests.yaml. pass --shipyard-model REF*"]
    )


@pytest.fixture(scope="module")
def reversed_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle of a model that prices bathrooms down.

    Module-scoped so that it is built before any pytester fixture starts: pytester
    drops the modules a test imported when the test ends, and building a bundle
    imports torch (through skops), which crashes the process when imported twice.
    """
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    from shipyard.bundle import build_bundle

    rows = pd.read_csv(io.StringIO(ROWS))
    model = LinearRegression().fit(rows, 150 * rows["sqft"] - 15_000 * rows["bathrooms"])
    out = tmp_path_factory.mktemp("bundles") / "housing"
    build_bundle(model, out, name="housing", input_example=rows.head(5), convert_onnx=False)
    return out


def test_the_default_loader_reads_the_projects_registry(
    reversed_bundle: Path, suite_dir: pytest.Pytester
):
    # No conftest hook: the plugin opens the project at the rootdir and loads from its registry.
    from shipyard.project import Project
    from shipyard.registry.registry import Registry

    Registry(Project.open(suite_dir.path)).register("housing", reversed_bundle)
    elsewhere = suite_dir.mkdir("elsewhere")
    (elsewhere / "shipyard_tests.yaml").write_text(
        textwrap.dedent(SUITES).replace("housing:1", "nothing:1").replace("rows.csv", "../rows.csv")
    )

    # In a subprocess, for the same reason as above: loading the bundle imports torch.
    result = suite_dir.runpytest_subprocess(*plugin_args(), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=4)
    result.stdout.fnmatch_lines(
        ["ModelNotFoundError: model 'nothing' is not registered*"], consecutive=False
    )
    failed = [line for line in result.outlines if line.startswith("FAILED")]
    assert len(failed) == 4
    assert failed[0].startswith("FAILED elsewhere/shipyard_tests.yaml::behaviour::more-bathrooms")
    assert failed[-1].startswith("FAILED shipyard_tests.yaml::behaviour::more-bathrooms")
