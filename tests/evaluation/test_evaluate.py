"""evaluate(): metrics equal scikit-learn's, intervals, slices, worst rows, cost, JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from shipyard.errors import EvaluationError
from shipyard.evaluation import Evaluation, SliceSpec, evaluate
from shipyard.evaluation.curves import MAX_CURVE_POINTS

from .conftest import DIGEST, Case

B = 60  # bootstrap resamples: enough to exercise every path, fast


def run(case: Case, **kwargs: Any) -> Evaluation:
    kwargs.setdefault("n_bootstrap", B)
    kwargs.setdefault("measure", False)
    task = "regression" if case.target == "y" else "classification"
    return evaluate(case.model, case.frame, case.target, task=task, dataset_digest=DIGEST, **kwargs)


def values(ev: Evaluation) -> dict[str, float]:
    return {m.name: m.value for m in ev.metrics}


def test_binary_metrics_equal_sklearn(binary_case: Case) -> None:
    ev = run(binary_case)
    y = binary_case.frame.label.to_numpy()
    proba = binary_case.model.predict_proba(binary_case.frame)
    pred = binary_case.model.predict(binary_case.frame)
    positive = (y == "yes").astype(int)
    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred, pos_label="yes"),
        "recall": skm.recall_score(y, pred, pos_label="yes"),
        "f1": skm.f1_score(y, pred, pos_label="yes"),
        "roc_auc": skm.roc_auc_score(positive, proba[:, 1]),
        "log_loss": skm.log_loss(y, proba, labels=["no", "yes"]),
        "brier": skm.brier_score_loss(positive, proba[:, 1]),
    }
    got = values(ev)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-9), name
    assert ev.classes == ("no", "yes")


def test_multiclass_metrics_equal_sklearn_macro(multiclass_case: Case) -> None:
    ev = run(multiclass_case)
    y = multiclass_case.frame.label.to_numpy()
    proba = multiclass_case.model.predict_proba(multiclass_case.frame)
    pred = multiclass_case.model.predict(multiclass_case.frame)
    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred, average="macro"),
        "recall": skm.recall_score(y, pred, average="macro"),
        "f1": skm.f1_score(y, pred, average="macro"),
        "roc_auc": skm.roc_auc_score(y, proba, multi_class="ovr"),
        "log_loss": skm.log_loss(y, proba),
    }
    got = values(ev)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-9), name
    assert "brier" not in got  # binary only
    assert ev.classes == ("0", "1", "2")


def test_regression_metrics_equal_sklearn(regression_case: Case) -> None:
    ev = run(regression_case)
    y = regression_case.frame.y.to_numpy()
    pred = regression_case.model.predict(regression_case.frame)
    expected = {
        "mae": skm.mean_absolute_error(y, pred),
        "rmse": skm.root_mean_squared_error(y, pred),
        "r2": skm.r2_score(y, pred),
        "mape": skm.mean_absolute_percentage_error(y, pred),
    }
    got = values(ev)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-9), name
    np.testing.assert_allclose(ev.losses["squared_error"], (y - pred) ** 2, atol=1e-9)


@pytest.mark.parametrize("case", ["binary_case", "multiclass_case", "regression_case"])
def test_every_interval_holds_its_point_value(case: str, request: pytest.FixtureRequest) -> None:
    ev = run(request.getfixturevalue(case))
    with_interval = [m for m in ev.metrics if m.low is not None]
    assert len(with_interval) >= 4
    for m in with_interval:
        assert m.low <= m.high
        assert m.low - 1e-12 <= m.value <= m.high + 1e-12 or m.name == "r2", m


def test_no_intervals_without_resamples(regression_case: Case) -> None:
    ev = run(regression_case, n_bootstrap=0)
    assert all(m.low is None and m.high is None for m in ev.metrics)


def test_ece_has_no_interval_and_says_why(binary_case: Case) -> None:
    ece = run(binary_case).metric("ece")
    assert ece.low is None and "no interval" in (ece.note or "")


def test_curves_are_thinned_and_start_and_end_at_the_corners(binary_case: Case) -> None:
    ev = run(binary_case)
    roc = ev.curves["roc"][0]
    assert roc["label"] == "yes" and len(roc["fpr"]) <= MAX_CURVE_POINTS
    assert (roc["fpr"][0], roc["tpr"][0]) == (0.0, 0.0)
    assert (roc["fpr"][-1], roc["tpr"][-1]) == (1.0, 1.0)
    assert roc["auc"] == pytest.approx(ev.metric("roc_auc").value)
    assert ev.confusion_matrix is not None
    assert sum(map(sum, ev.confusion_matrix["matrix"])) == ev.n_rows


def test_slices_partition_the_rows_and_score_each_part(binary_case: Case) -> None:
    ev = run(binary_case, slices=["region", SliceSpec("f0", bins=3)])
    region, f0 = ev.slices
    assert region.kind == "categorical" and f0.kind == "numeric"
    assert sum(r.n for r in region.rows) == sum(r.n for r in f0.rows) == ev.n_rows
    assert len(f0.rows) == 3
    frame = binary_case.frame
    north = frame[frame.region == "north"]
    expected = skm.accuracy_score(north.label, binary_case.model.predict(north))
    row = next(r for r in region.rows if r.value == "north")
    assert row.metrics["accuracy"].value == pytest.approx(expected, abs=1e-12)
    assert row.metrics["accuracy"].low is not None  # mean metrics get intervals per slice


def test_unknown_slice_feature_names_the_columns(binary_case: Case) -> None:
    with pytest.raises(EvaluationError, match="slice feature 'nope'"):
        run(binary_case, slices=["nope"])


def test_largest_errors_come_first_with_their_inputs(regression_case: Case) -> None:
    ev = run(regression_case, top_k=5)
    errors = [abs(w.outcome["error"]) for w in ev.worst_examples]
    assert errors == sorted(errors, reverse=True) and len(errors) == 5
    biggest = float(np.max(np.abs(ev.y_pred - ev.y_true)))
    assert errors[0] == pytest.approx(biggest)
    first = ev.worst_examples[0]
    assert first.inputs["a"] == pytest.approx(regression_case.frame.a[first.row])
    assert isinstance(first.inputs["year"], int)


def test_most_confident_wrong_examples_are_wrong_and_ordered(binary_case: Case) -> None:
    ev = run(binary_case, top_k=8)
    assert ev.worst_examples
    confidences = [w.outcome["P(predicted)"] for w in ev.worst_examples]
    assert confidences == sorted(confidences, reverse=True)
    for w in ev.worst_examples:
        assert w.outcome["actual"] != w.outcome["predicted"]
        assert w.outcome["P(actual)"] == pytest.approx(1 - w.outcome["P(predicted)"])
    wrong = ev.y_true != ev.y_pred
    assert confidences[0] == pytest.approx(ev.proba[wrong].max())


def test_operational_stats_are_measured(regression_case: Case, tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"x" * 1000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.json").write_bytes(b"y" * 24)
    ev = run(regression_case, measure=True, model_path=tmp_path)
    op = ev.operational
    assert op is not None and op.model_size_bytes == 1024
    assert 0 < op.single_row_p50_ms <= op.single_row_p99_ms
    assert 0 < op.batch_p50_ms <= op.batch_p99_ms
    assert op.batch_rows == len(regression_case.frame)
    assert op.throughput_rows_per_s > 0 and op.process_peak_rss_bytes > 0


def test_round_trip_through_json_keeps_everything_needed_to_compare(binary_case: Case) -> None:
    import json

    ev = run(binary_case, slices=["region"])
    again = Evaluation.from_dict(json.loads(json.dumps(ev.to_dict())))
    assert [m.value for m in again.metrics] == pytest.approx([m.value for m in ev.metrics])
    np.testing.assert_array_equal(again.y_true, ev.y_true)
    np.testing.assert_allclose(again.proba, ev.proba)
    assert again.slices[0].rows[0].n == ev.slices[0].rows[0].n


def test_without_per_row_data_it_cannot_be_rebuilt(binary_case: Case) -> None:
    with pytest.raises(EvaluationError, match="per-row"):
        Evaluation.from_dict(run(binary_case).to_dict(per_example=False))


class _Bundle:
    """Shaped like a loaded bundle: a signature and ``predict`` on named columns."""

    class signature:
        task = "classification"
        classes = ("no", "yes")
        input_names = ["f0", "f1", "f2", "f3", "f4"]

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def predict(self, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        proba = self.inner.predict_proba(pd.DataFrame(columns))
        return {"label": np.array(["no", "yes"])[proba.argmax(1)], "probabilities": proba}

    def predict_frame(self, frame: pd.DataFrame) -> np.ndarray:
        raise AssertionError("evaluate must use predict, which gives probabilities")


def test_loaded_bundle_probabilities_are_used(binary_case: Case) -> None:
    bundle = _Bundle(binary_case.model)
    ev = evaluate(
        bundle, binary_case.frame, "label", dataset_digest=DIGEST, n_bootstrap=0, measure=False
    )
    assert ev.task == "classification"  # from the signature
    assert ev.metric("roc_auc").value == pytest.approx(run(binary_case).metric("roc_auc").value)


def test_a_model_without_probabilities_still_gets_label_metrics(binary_case: Case) -> None:
    class LabelsOnly:
        def predict(self, frame: pd.DataFrame) -> np.ndarray:
            return binary_case.model.predict(frame)

    ev = evaluate(
        LabelsOnly(),
        binary_case.frame,
        "label",
        task="classification",
        dataset_digest=DIGEST,
        n_bootstrap=B,
        measure=False,
    )
    assert {m.name for m in ev.metrics} == {"accuracy", "precision", "recall", "f1"}
    assert ev.worst_examples and "P(predicted)" not in ev.worst_examples[0].outcome


def test_missing_target_and_unknown_task_are_explained(binary_case: Case) -> None:
    with pytest.raises(EvaluationError, match="target column 'nope'"):
        evaluate(
            binary_case.model,
            binary_case.frame,
            "nope",
            task="classification",
            dataset_digest=DIGEST,
        )
    with pytest.raises(EvaluationError, match="unknown task"):
        evaluate(
            binary_case.model, binary_case.frame, "label", task="ranking", dataset_digest=DIGEST
        )


def test_headline_must_belong_to_the_task(binary_case: Case) -> None:
    with pytest.raises(EvaluationError, match="'rmse' is not a classification metric"):
        run(binary_case, headline="rmse")
    assert run(binary_case, headline="f1").headline_metric == "f1"
