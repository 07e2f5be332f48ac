from __future__ import annotations

import numpy as np
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import SGDClassifier, SGDRegressor
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from shipyard.testing import check_can_overfit, check_loss_decreases, check_output_shape


@pytest.fixture
def numeric(make_housing):
    frame = make_housing(200, seed=4)
    X = frame.drop(columns=["price", "region"])
    return X, frame["price"]


@pytest.fixture
def scaled(numeric):
    X, y = numeric
    return (X - X.mean()) / X.std(), (y - y.mean()) / y.std()


def test_output_shape_passes_for_one_finite_prediction_per_row(numeric):
    X, y = numeric
    result = check_output_shape(DecisionTreeRegressor, X, y)  # a factory: fitted first
    assert result.passed, result.details
    assert result.metrics["shape"] == [len(X)]


def test_output_shape_flags_a_column_vector_for_a_flat_target(numeric):
    X, y = numeric

    class ColumnModel:
        def predict(self, frame):
            return np.zeros((len(frame), 1))

    result = check_output_shape(ColumnModel(), X, y)
    assert not result.passed
    assert "(200, 1)" in result.details and "(200,)" in result.details


def test_output_shape_names_rows_with_nan_predictions(numeric):
    X, _ = numeric

    class HolesModel:
        def predict_frame(self, frame):
            out = np.ones(len(frame))
            out[[3, 7]] = np.nan
            return out

    result = check_output_shape(HolesModel(), X)
    assert not result.passed
    assert "2 of 200 rows" in result.details
    assert [e["inputs"] for e in result.failing_examples] == [
        X.iloc[3].to_dict(),
        X.iloc[7].to_dict(),
    ]


def test_output_shape_flags_labels_the_targets_never_have(numeric):
    X, y = numeric
    labels = np.where(y > y.median(), "high", "low")

    class Confused:
        def predict(self, frame):
            return np.array(["high", "medium"] * (len(frame) // 2))

    result = check_output_shape(Confused(), X, labels)
    assert not result.passed
    assert result.failing_examples[0]["prediction"] == "medium"
    assert check_output_shape(DecisionTreeClassifier, X, labels).passed


def test_output_shape_reports_a_model_that_raises(numeric):
    X, y = numeric
    result = check_output_shape(DecisionTreeRegressor(), X, y)  # an instance, never fitted
    assert not result.passed and "NotFittedError" in result.details


def test_a_flexible_model_can_overfit_a_tiny_batch(numeric):
    X, y = numeric
    result = check_can_overfit(DecisionTreeRegressor, X[:30], y[:30])
    assert result.passed and result.metrics["r2"] == pytest.approx(1.0)


def test_a_model_that_cannot_fit_a_tiny_batch_fails_with_its_worst_rows(numeric):
    X, y = numeric
    result = check_can_overfit(DummyRegressor, X[:30], y[:30])
    assert not result.passed
    assert "cannot fit the 30 rows" in result.details
    worst = result.failing_examples[0]
    assert abs(worst["target"] - worst["prediction"]) == pytest.approx(
        np.max(np.abs(y[:30] - y[:30].mean()))
    )


def test_loss_decreases_with_partial_fit_warm_start_and_a_step_callable(scaled):
    X, y = scaled
    sgd = SGDRegressor(learning_rate="constant", eta0=1e-3, random_state=0)
    assert check_loss_decreases(sgd, X, y).passed
    assert check_loss_decreases(SGDClassifier(loss="log_loss", random_state=0), X, y > 0).passed
    boosting = GradientBoostingRegressor(n_estimators=3, random_state=0)
    result = check_loss_decreases(boosting, X, y, grow="n_estimators", steps=3)
    assert result.passed and boosting.n_estimators == 9

    weights = np.zeros(X.shape[1])

    def gradient_step() -> float:
        nonlocal weights
        residual = X.to_numpy() @ weights - y.to_numpy()
        weights = weights - 0.1 * X.to_numpy().T @ residual / len(y)
        return float(np.mean(residual**2))

    assert check_loss_decreases(gradient_step).passed


def test_a_diverging_loss_fails_and_names_the_steps_it_rose(scaled):
    X, y = scaled
    weights = np.zeros(X.shape[1])

    def too_large_a_step() -> float:
        nonlocal weights
        residual = X.to_numpy() @ weights - y.to_numpy()
        weights = weights - 5.0 * X.to_numpy().T @ residual / len(y)
        return float(np.mean(residual**2))

    result = check_loss_decreases(too_large_a_step, steps=4)
    assert not result.passed
    assert "did not fall" in result.details
    assert [e["step"] for e in result.failing_examples] == [2, 3, 4]


def test_a_nan_loss_fails_at_its_step():
    losses = iter([1.0, 0.5, float("nan")])
    result = check_loss_decreases(lambda: next(losses), steps=3)
    assert not result.passed and "at step 3" in result.details


def test_an_estimator_without_incremental_training_is_explained(numeric):
    X, y = numeric
    result = check_loss_decreases(DummyRegressor(), X, y)
    assert not result.passed and "neither partial_fit nor warm_start" in result.details
