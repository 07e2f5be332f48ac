from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeRegressor

from shipyard.errors import ModelTestError
from shipyard.testing import (
    Case,
    Directional,
    Invariance,
    MinimumFunctionality,
    Noise,
    RegressionCases,
    SetTo,
    Shuffle,
    Suite,
    run_suite,
    run_test,
)
from shipyard.testing.behavioral import load_rows, select_rows
from shipyard.testing.suite import DataSource

from .conftest import FEATURES, fit_linear

MORE_BATHROOMS = Directional("more-bathrooms", "bathrooms", 1, expect="not_decrease")
SMALLER = Directional("smaller-house", "sqft", -200, expect="not_increase")
TYPICAL = {
    "sqft": 2000,
    "bedrooms": 3,
    "bathrooms": 2,
    "age": 10,
    "lot_size": 5000,
    "region": "US",
    "condition": 3,
}


def test_correct_model_passes_directional_tests(good_model, rows):
    report = run_suite(Suite("housing", (MORE_BATHROOMS, SMALLER), data=rows), good_model)

    assert report.passed
    assert [r.n_checked for r in report.results] == [len(rows), len(rows)]
    assert all(r.failing_examples == () for r in report.results)


def test_reversed_bathrooms_model_fails_directional_and_names_examples(broken_model, rows):
    report = run_suite(Suite("housing", (MORE_BATHROOMS, SMALLER), data=rows), broken_model)

    more, smaller = report.results
    assert not report.passed and smaller.passed
    assert not more.passed
    assert more.n_failed == more.n_checked == len(rows)
    assert len(more.failing_examples) == 10  # the default cap, worst first
    first = more.failing_examples[0]
    assert set(first["inputs"]) == set(FEATURES)
    assert first["changed"] == {"bathrooms": first["inputs"]["bathrooms"] + 1}
    assert first["after"] < first["before"]
    assert first["change"] == pytest.approx(first["after"] - first["before"])
    changes = [e["change"] for e in more.failing_examples]
    assert changes == sorted(changes)  # most negative change first


def test_whole_delta_keeps_integer_column_integer(good_model, rows):
    seen = []

    class Spy:
        def predict_frame(self, frame):
            seen.append(frame["bathrooms"].dtype)
            return good_model.predict(frame)

    run_test(MORE_BATHROOMS, Spy(), rows)
    assert all(pd.api.types.is_integer_dtype(d) for d in seen)


def test_tolerance_is_a_dead_band_for_strict_and_lenient_expectations():
    rows = pd.DataFrame({"x": [0.0, 1.0, 2.0]})
    flat = DecisionTreeRegressor(max_depth=1).fit(pd.DataFrame({"x": [0, 10]}), [0, 1])
    # x + 0.5 stays in the same leaf for every row: the prediction does not move
    strict = run_test(Directional("up", "x", 0.5, expect="increase"), flat, rows)
    lenient = run_test(Directional("up", "x", 0.5, expect="not_decrease"), flat, rows)
    assert (strict.passed, strict.n_failed) == (False, 3)
    assert lenient.passed


def test_suite_rows_are_predicted_once_and_each_test_in_one_batch(counting, good_model, rows):
    model = counting(good_model)
    lot_noise = Invariance("lot-noise", {"lot_size": Noise(1.0)}, tolerance=0.02, relative=True)
    run_suite(Suite("housing", (MORE_BATHROOMS, SMALLER, lot_noise), data=rows), model)

    assert model.calls == [len(rows)] * 4  # the base rows, then one batch per test


def test_invariance_to_an_ignored_column_passes_and_to_region_fails(good_model, rows):
    noise = Invariance("lot-noise", {"lot_size": Noise(1.0)}, tolerance=0.02, relative=True)
    region = Invariance("region", {"region": "SG"}, tolerance=1.0)
    report = run_suite(Suite("housing", (noise, region), data=rows), good_model)

    noise_result, region_result = report.results
    assert noise_result.passed
    assert not region_result.passed
    assert region_result.n_failed == int((rows["region"] != "SG").sum())
    assert all(e["inputs"]["region"] != "SG" for e in region_result.failing_examples)
    assert isinstance(region.perturb["region"], SetTo)


def test_max_failure_rate_allows_a_share_of_failures(good_model, rows):
    share = float((rows["region"] != "SG").mean())
    loose = Invariance("region", {"region": "SG"}, tolerance=1.0, max_failure_rate=share)
    strict = Invariance("region", {"region": "SG"}, tolerance=1.0, max_failure_rate=share - 0.01)
    assert run_test(loose, good_model, rows).passed
    assert not run_test(strict, good_model, rows).passed


def test_where_limits_the_rows_a_test_checks(good_model, rows):
    only_sg = Invariance("region", {"region": "SG"}, tolerance=1.0, where="region == 'SG'")
    result = run_test(only_sg, good_model, rows)
    assert result.passed
    assert result.n_checked == int((rows["region"] == "SG").sum())


def test_where_selecting_no_rows_fails_with_a_reason(good_model, rows):
    result = run_test(
        Directional("d", "bathrooms", 1, expect="increase", where="sqft < 0"), good_model, rows
    )
    assert not result.passed
    assert "no rows" in result.error


def test_label_predictions_must_stay_equal_under_invariance():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"signal": rng.normal(size=200), "noise": rng.normal(size=200)})
    labels = np.where(frame["signal"] > 0, "yes", "no")
    model = LogisticRegression().fit(frame, labels)

    ignores_noise = run_test(Invariance("noise", {"noise": Shuffle(seed=1)}), model, frame)
    flips_signal = run_test(Invariance("signal", {"signal": lambda s: -s}), model, frame)
    assert ignores_noise.n_failed < 20  # a small weight on noise may flip a few borderline rows
    assert flips_signal.n_failed > 150
    assert {"before", "after"} <= set(flips_signal.failing_examples[0])


def test_directional_on_label_predictions_is_an_error_result():
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    model = LogisticRegression().fit(frame, ["a", "a", "b", "b"])
    result = run_test(Directional("d", "x", 1, expect="increase"), model, frame)
    assert not result.passed
    assert "numeric predictions" in result.error


def test_one_broken_test_does_not_hide_the_others(good_model, rows):
    missing = Directional("typo", "bathroms", 1, expect="not_decrease")
    report = run_suite(Suite("housing", (missing, MORE_BATHROOMS), data=rows), good_model)

    typo, more = report.results
    assert not typo.passed and "bathroms" in typo.error and "bathrooms" in typo.error
    assert more.passed


def test_minimum_functionality_checks_ranges_and_expected_values(good_model):
    cheap = dict(TYPICAL, sqft=600, age=80, region="VN")
    test = MinimumFunctionality(
        "typical",
        [
            (TYPICAL, (100_000, 900_000)),
            Case(cheap, range=(500_000, 900_000)),  # this one is too cheap to be in range
            {"inputs": TYPICAL, "expected": 0.0},  # nor is any house free
        ],
        tolerance=1.0,
    )
    result = run_test(test, good_model)

    assert (result.n_checked, result.n_failed) == (3, 2)
    out_of_range = next(e for e in result.failing_examples if "range" in e)
    assert out_of_range["inputs"] == cheap and out_of_range["range"] == [500_000.0, 900_000.0]
    assert out_of_range["prediction"] < 500_000
    expected_zero = next(e for e in result.failing_examples if "expected" in e)
    assert expected_zero["inputs"] == TYPICAL and expected_zero["prediction"] > 100_000


def test_regression_cases_pass_within_relative_tolerance(good_model):
    truth = float(good_model.predict(pd.DataFrame([TYPICAL]))[0])
    close = RegressionCases("known", [(TYPICAL, truth * 1.05)], tolerance=0.1, relative=True)
    far = RegressionCases("known", [(TYPICAL, truth * 1.5)], tolerance=0.1, relative=True)
    assert run_test(close, good_model).passed
    result = run_test(far, good_model)
    assert not result.passed
    assert result.failing_examples[0]["expected"] == pytest.approx(truth * 1.5)


def test_regression_cases_catch_a_later_version_that_regresses(make_housing, broken_model):
    # A case the fixed model gets right, kept: the reversed model gets it wrong again.
    fixed = fit_linear(make_housing(seed=1))
    case = dict(TYPICAL, bathrooms=3)
    answer = float(fixed.predict(pd.DataFrame([case]))[0])
    kept = RegressionCases("kept", [(case, answer)], tolerance=0.02, relative=True)
    assert run_test(kept, fixed).passed
    assert not run_test(kept, broken_model).passed


def test_reports_are_json_without_nan(broken_model, rows):
    nan_model = type("Nan", (), {"predict_frame": lambda self, f: np.full(len(f), np.nan)})()
    suite = Suite("housing", (MORE_BATHROOMS,), data=rows)
    for model in (broken_model, nan_model):
        text = json.dumps(run_suite(suite, model).to_dict(), allow_nan=False)
        assert '"passed": false' in text


def test_nan_predictions_fail_directional_tests(rows):
    nan_model = type("Nan", (), {"predict_frame": lambda self, f: np.full(len(f), np.nan)})()
    result = run_test(MORE_BATHROOMS, nan_model, rows)
    assert result.n_failed == len(rows)


def test_suite_rows_come_from_where_then_sample(tmp_path, rows):
    path = tmp_path / "rows.csv"
    rows.to_csv(path, index=False)
    source = DataSource(file=path, sample=10, seed=3, where="region == 'DE'")
    selected = select_rows(load_rows(source), source)
    assert len(selected) == 10
    assert (selected["region"] == "DE").all()
    assert selected.equals(select_rows(load_rows(source), source))  # the same rows each run


def test_suite_without_rows_explains_where_to_declare_them(good_model):
    with pytest.raises(ModelTestError, match="declare data"):
        run_suite(Suite("housing", (MORE_BATHROOMS,)), good_model)


def test_case_tests_need_no_rows(good_model):
    report = run_suite(
        Suite("cases", (MinimumFunctionality("t", [(TYPICAL, (1, 1e7))]),)), good_model
    )
    assert report.passed
