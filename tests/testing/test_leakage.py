from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shipyard.errors import ModelTestError
from shipyard.testing import check_label_leakage, check_no_shared_rows


@pytest.fixture
def frame(make_housing):
    return make_housing(1000, seed=5)


def test_honest_features_do_not_leak(frame):
    result = check_label_leakage(frame, "price")
    assert result.passed, result.details
    assert set(result.metrics["scores"]) == set(frame.columns) - {"price"}
    assert max(result.metrics["scores"].values()) < 0.98


def test_a_feature_derived_from_the_target_is_named(frame):
    leaky = frame.assign(price_band=(frame["price"] // 1000).astype(int))
    result = check_label_leakage(leaky, "price")
    assert not result.passed
    assert "feature 'price_band' predicts 'price'" in result.details
    assert [e["feature"] for e in result.failing_examples] == ["price_band"]


def test_a_categorical_copy_of_a_class_target_is_named(frame):
    labelled = frame.assign(expensive=frame["price"] > frame["price"].median())
    labelled = labelled.drop(columns=["price"])
    assert check_label_leakage(labelled, "expensive").passed
    leaky = labelled.assign(verdict=np.where(labelled["expensive"], "sold high", "sold low"))
    result = check_label_leakage(leaky, "expensive")
    assert not result.passed
    assert result.failing_examples[0] == {"feature": "verdict", "score": 1.0, "method": "ROC AUC"}


def test_multiclass_leak_is_scored_by_balanced_accuracy(frame):
    banded = frame.assign(band=pd.qcut(frame["price"], 3, labels=["lo", "mid", "hi"]).astype(str))
    banded = banded.drop(columns=["price"])
    leaky = banded.assign(code=banded["band"].str[0])
    result = check_label_leakage(leaky, "band")
    assert [e["feature"] for e in result.failing_examples] == ["code"]
    assert result.failing_examples[0]["method"] == "balanced accuracy"


def test_a_row_id_does_not_leak_when_rows_are_not_ordered_by_target(frame):
    with_id = frame.assign(row_id=np.arange(len(frame)), note=[f"n{i}" for i in range(len(frame))])
    assert check_label_leakage(with_id, "price").passed


def test_an_unknown_target_is_an_error(frame):
    with pytest.raises(ModelTestError, match="target column 'cost'"):
        check_label_leakage(frame, "cost")


def test_shared_rows_are_listed_with_both_indexes(frame):
    train, test = frame.iloc[:700], frame.iloc[650:]
    result = check_no_shared_rows(train, test)
    assert not result.passed
    assert result.metrics["shared"] == 50
    assert "50 of 350 test rows" in result.details
    first = result.failing_examples[0]
    assert first["test_index"] == first["train_index"] == 650
    assert first["row"]["sqft"] == frame.loc[650, "sqft"]


def test_disjoint_splits_share_nothing(frame):
    assert check_no_shared_rows(frame.iloc[:500], frame.iloc[500:]).passed


def test_a_row_matches_across_integer_and_float_columns(frame):
    test = frame.iloc[[10]].astype({"bedrooms": "float64"}).reset_index(drop=True)
    result = check_no_shared_rows(frame, test)
    assert result.metrics["shared"] == 1 and result.failing_examples[0]["train_index"] == 10


def test_compared_columns_can_leave_the_target_out(frame):
    relabelled = frame.iloc[:5].assign(price=0.0)
    features = [c for c in frame.columns if c != "price"]
    assert check_no_shared_rows(frame, relabelled).passed
    assert not check_no_shared_rows(frame, relabelled, columns=features).passed
    with pytest.raises(ModelTestError, match="both have"):
        check_no_shared_rows(frame, relabelled, columns=["nope"])
