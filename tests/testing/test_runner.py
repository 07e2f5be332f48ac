"""test_model against the real registry: bundles built and registered in a fresh project."""

from __future__ import annotations

import json
import textwrap

import pandas as pd
import pytest

from shipyard.bundle import build_bundle
from shipyard.data import Dataset
from shipyard.errors import ModelTestError
from shipyard.registry.registry import Registry
from shipyard.testing import (
    Directional,
    MinimumFunctionality,
    Suite,
    project_suites,
    test_model,
)
from shipyard.testing.runner import select_suites

from .conftest import FEATURES

SUITES = """
suites:
  behaviour:
    tests:
      - directional: {name: more-bathrooms, column: bathrooms, delta: 1, expect: not_decrease}
      - directional: {name: older, column: age, delta: 10, expect: not_increase}
  cases:
    tests:
      - minimum:
          name: typical
          cases:
            - inputs: {sqft: 2000, bedrooms: 3, bathrooms: 2, age: 10, lot_size: 5000, region: US, condition: 3}
              range: [100000, 900000]
"""


@pytest.fixture
def registry(project, make_housing, good_model, broken_model) -> Registry:
    """housing:1 is correct, housing:2 learned that bathrooms lower the price."""
    registry = Registry(project)
    example = make_housing(5, seed=8)[FEATURES]
    for number, model in enumerate((good_model, broken_model), start=1):
        out = project.root / f"bundle-{number}"
        build_bundle(model, out, name="housing", input_example=example, convert_onnx=False)
        registry.register("housing", out, target="price")
    registry.set_alias("housing:2", "challenger", actor="test")
    (project.root / "shipyard_tests.yaml").write_text(textwrap.dedent(SUITES))
    return registry


def test_the_housing_model_passes_and_results_are_recorded_on_its_version(project, registry):
    report = test_model(project, "housing:1", registry=registry)

    assert report.passed
    assert [s.name for s in report.suites] == ["behaviour", "cases"]
    tests = registry.get("housing:1").details["tests"]
    assert {name: entry["passed"] for name, entry in tests.items()} == {
        "behaviour": True,
        "cases": True,
    }


def test_the_reversed_bathrooms_model_fails_directional_with_examples(project, registry):
    report = test_model(project, "housing@challenger", registry=registry)

    assert not report.passed
    assert report.version == "housing:2"  # the alias is pinned before anything runs
    behaviour = report.suites[0]
    assert [r.name for r in behaviour.failed] == ["more-bathrooms"]
    example = behaviour.failed[0].failing_examples[0]
    assert example["after"] < example["before"]
    assert set(example["inputs"]) == set(FEATURES)
    recorded = registry.get("housing:2").details["tests"]["behaviour"]
    assert recorded["passed"] is False
    assert recorded["summary"]["results"][0]["failing_examples"] == [
        json.loads(json.dumps(e)) for e in behaviour.failed[0].failing_examples
    ]
    assert registry.get("housing:1").details.get("tests") is None


def test_rows_default_to_the_bundles_input_example(project, registry):
    report = test_model(project, "housing:1", registry=registry, record=False)
    assert report.suites[0].results[0].n_checked == 5  # the bundle's input example


def test_rows_come_from_the_versions_evaluation_dataset(project, registry, make_housing):
    frame = make_housing(40, seed=9)
    digest = Dataset.snapshot(frame, "housing-eval", project).digest
    out = project.root / "bundle-3"
    model_dir = registry.bundle_path("housing:1")
    out.symlink_to(model_dir, target_is_directory=True)
    registry.register("housing", out, details={"evaluation_dataset": digest}, target="price")

    report = test_model(project, "housing:3", registry=registry, record=False)
    assert report.suites[0].results[0].n_checked == 40


def test_a_stored_dataset_named_by_the_suite_is_used(project, registry, make_housing):
    Dataset.snapshot(make_housing(30, seed=10)[FEATURES], "probe-rows", project)
    suites = project_suites(project)
    suites = (Suite("probe", suites[0].tests, data=type(suites[0].data)(dataset="probe-rows")),)
    report = test_model(project, "housing:1", suites, registry=registry, record=False)
    assert report.suites[0].results[0].n_checked == 30


def test_given_rows_replace_the_suites_own(project, registry, make_housing):
    rows = make_housing(12, seed=11)[FEATURES]
    report = test_model(project, "housing:2", suite_names=["behaviour"], data=rows, record=False,
                        registry=registry)  # fmt: skip
    assert [s.name for s in report.suites] == ["behaviour"]
    assert report.suites[0].results[0].n_failed == 12


def test_unknown_suite_names_list_the_declared_ones():
    suites = [Suite("a", (MinimumFunctionality("m", [({"x": 1}, 1)]),))]
    with pytest.raises(ModelTestError, match=r"no suite named 'b'.*declared suites: a"):
        select_suites(suites, ["b"])


def test_a_project_without_suites_says_where_to_declare_them(project):
    with pytest.raises(ModelTestError, match=r"shipyard_tests\.yaml"):
        project_suites(project)


def test_report_is_json(project, registry):
    report = test_model(project, "housing:2", registry=registry, record=False)
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["ref"] == "housing:2" and data["passed"] is False
    assert isinstance(pd.DataFrame(data["suites"][0]["results"]), pd.DataFrame)


def test_python_suites_run_without_yaml(project, registry, make_housing):
    suite = Suite(
        "py",
        (Directional("more-bathrooms", "bathrooms", 1, expect="not_decrease"),),
        data=make_housing(20, seed=12)[FEATURES],
    )
    assert test_model(project, "housing:1", [suite], registry=registry).passed
    assert not test_model(project, "housing:2", [suite], registry=registry).passed
