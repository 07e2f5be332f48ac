from __future__ import annotations

import json

import pytest
from sklearn.compose import make_column_transformer
from sklearn.dummy import DummyRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.tree import DecisionTreeRegressor

from shipyard.data import ColumnSpec, DataSchema
from shipyard.errors import ModelTestError
from shipyard.testing import PretrainCheckFailed, PretrainSuite, check_schema


def tree() -> object:
    encode = make_column_transformer((OneHotEncoder(), ["region"]), remainder="passthrough")
    return make_pipeline(encode, DecisionTreeRegressor(random_state=0))


@pytest.fixture
def splits(make_housing):
    frame = make_housing(600, seed=6)
    return frame.iloc[:450], frame.iloc[450:]


def test_standard_suite_passes_on_clean_splits_and_a_learnable_model(splits):
    train, test = splits
    report = PretrainSuite.standard(train, "price", test=test, estimator_factory=tree).run()
    assert report.passed
    assert [r.name for r in report.results] == [
        "label-leakage",
        "no-shared-rows",
        "output-shape",
        "can-overfit",
    ]


def test_failing_checks_stop_training_naming_each_and_an_example(splits):
    train, _ = splits
    leaky = train.assign(price_k=(train["price"] / 1000).round())
    suite = PretrainSuite.standard(leaky, "price", test=train.iloc[:20], estimator_factory=tree)

    with pytest.raises(PretrainCheckFailed) as caught:
        suite.run()

    error = caught.value
    assert isinstance(error, ModelTestError)
    message = str(error)
    assert "'label-leakage': feature 'price_k'" in message
    assert "'no-shared-rows': 20 of 20 test rows" in message
    assert "'test_index'" in message  # an example is shown
    assert [r.name for r in error.report.failed] == ["label-leakage", "no-shared-rows"]


def test_a_model_that_cannot_learn_is_caught_before_training(splits):
    train, _ = splits
    report = PretrainSuite.standard(train, "price", estimator_factory=DummyRegressor).run(
        raise_on_failure=False
    )
    assert [r.name for r in report.failed] == ["can-overfit"]
    assert "cannot fit the 32 rows" in report.failed[0].details


def test_schema_failures_are_reported_as_a_check(splits):
    train, _ = splits
    schema = DataSchema(
        (
            ColumnSpec("sqft", "float64", minimum=1000),
            ColumnSpec("region", "str", categories=("VN", "SG", "US")),
        )
    )
    result = check_schema(train, schema)
    assert not result.passed
    assert {e["column"] for e in result.failing_examples} == {"sqft", "region"}
    assert check_schema(train, DataSchema((ColumnSpec("sqft", "float64", minimum=0),))).passed
    suite = PretrainSuite.standard(train, "price", schema=schema)
    assert suite.run(raise_on_failure=False).results[0].name == "schema"


def test_reports_are_json(splits):
    train, _ = splits
    report = PretrainSuite.standard(train, "price", test=train.iloc[:5]).run(raise_on_failure=False)
    text = json.dumps(report.to_dict(), allow_nan=False)
    assert '"no-shared-rows"' in text
