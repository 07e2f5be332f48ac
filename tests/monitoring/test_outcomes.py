"""Performance drift from outcomes joined to events: metrics and tests checked against scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from shipyard.errors import MonitoringError
from shipyard.monitoring.outcomes import performance_drift
from shipyard.project import Project
from shipyard.store.events import EventRecord, EventStore, OutcomeRecord

TOL = 1e-9


def _pairs(
    preds: list[object], truths: np.ndarray, start: float = 0.0
) -> list[tuple[EventRecord, OutcomeRecord]]:
    out = []
    for i, (p, y) in enumerate(zip(preds, truths, strict=True)):
        rid = f"r{start + i}"
        event = EventRecord(
            rid, start + i, "housing", "housing", 1, "default", {"x": [1.0]}, p, 1.0
        )  # type: ignore[arg-type]
        out.append((event, OutcomeRecord(rid, "label", float(y), start + i)))
    return out


def test_regression_performance_and_test_equal_scipy() -> None:
    rng = np.random.default_rng(0)
    y_ref, y_cur = rng.normal(100, 10, 400), rng.normal(100, 10, 300)
    p_ref = y_ref + rng.normal(0, 2, 400)
    p_cur = y_cur + rng.normal(1, 4, 300)  # worse: biased and noisier
    reference = _pairs([{"prediction": [v]} for v in p_ref], y_ref)
    current = _pairs([{"prediction": [v]} for v in p_cur], y_cur, start=1000)
    report = performance_drift(reference, current, alpha=0.01)
    expected = stats.mannwhitneyu(
        np.abs(p_cur - y_cur), np.abs(p_ref - y_ref), alternative="greater"
    )
    assert report.task == "regression" and report.output == "prediction"
    assert report.statistic == pytest.approx(expected.statistic, abs=TOL)
    assert report.pvalue == pytest.approx(expected.pvalue, abs=TOL)
    assert report.degraded
    assert report.current["rmse"] == pytest.approx(
        math.sqrt(np.mean((p_cur - y_cur) ** 2)), abs=TOL
    )
    assert report.current["bias"] == pytest.approx(np.mean(p_cur - y_cur), abs=TOL)
    assert report.reference["mae"] == pytest.approx(np.mean(np.abs(p_ref - y_ref)), abs=TOL)


def test_classification_uses_probabilities_and_a_proportion_test() -> None:
    rng = np.random.default_rng(1)
    y_ref = rng.integers(0, 2, 500)
    y_cur = rng.integers(0, 2, 500)
    proba_ref = np.where(rng.random(500) < 0.9, y_ref, 1 - y_ref) * 0.6 + 0.2
    proba_cur = np.where(rng.random(500) < 0.7, y_cur, 1 - y_cur) * 0.6 + 0.2
    ref = _pairs([{"label": ["x"], "probability": [[1 - p, p]]} for p in proba_ref], y_ref)
    cur = _pairs(
        [{"label": ["x"], "probability": [[1 - p, p]]} for p in proba_cur], y_cur, start=1000
    )
    report = performance_drift(ref, cur)
    wrong_ref = (proba_ref > 0.5).astype(int) != y_ref
    wrong_cur = (proba_cur > 0.5).astype(int) != y_cur
    pooled = (wrong_ref.sum() + wrong_cur.sum()) / 1000
    z = (wrong_cur.mean() - wrong_ref.mean()) / math.sqrt(pooled * (1 - pooled) * (2 / 500))
    assert report.task == "classification" and report.output == "probability"
    assert report.statistic == pytest.approx(z, abs=TOL)
    assert report.pvalue == pytest.approx(stats.norm.sf(z), abs=TOL)
    assert report.current["accuracy"] == pytest.approx(1 - wrong_cur.mean(), abs=TOL)
    picked = np.where(y_cur == 1, proba_cur, 1 - proba_cur)
    assert report.current["log_loss"] == pytest.approx(-np.mean(np.log(picked)), abs=TOL)
    assert report.degraded


def test_stable_performance_is_not_flagged() -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(0, 1, 600)
    p = y + rng.normal(0, 0.5, 600)
    report = performance_drift(
        _pairs([{"y": [v]} for v in p[:300]], y[:300]),
        _pairs([{"y": [v]} for v in p[300:]], y[300:], 500),
    )
    assert not report.degraded


def test_outcomes_that_are_not_class_indices_are_refused() -> None:
    ref = _pairs([{"probability": [[0.5, 0.5]]}] * 5, np.array([0, 1, 2, 0, 1]))
    with pytest.raises(MonitoringError, match=r"class indices 0\.\.1"):
        performance_drift(ref, ref)


def test_multi_row_requests_are_left_out_and_counted() -> None:
    pairs = _pairs([{"y": [1.0]}, {"y": [1.0, 2.0]}, {"y": [2.0]}], np.array([1.0, 1.0, 2.0]))
    report = performance_drift(pairs, pairs)
    assert report.skipped == 2 and report.reference["n"] == 2
    with pytest.raises(MonitoringError, match="no single-row predictions"):
        performance_drift(pairs[1:2], pairs)


def test_outcomes_recorded_in_the_store_join_for_performance(project: Project) -> None:
    from monitoring_helpers import make_event

    from shipyard.monitoring.events import event_row

    store = EventStore(project.db)
    rows = [event_row(make_event(i, at=100.0 + i)) for i in range(60)]
    store.write(rows)
    for r in rows:
        store.record_outcome(r["request_id"], "label", float(r["outputs"]["prediction"][0]) + 1.0)
    pairs = store.joined("housing", "label")
    report = performance_drift(pairs[:30], pairs[30:])
    assert report.reference["bias"] == pytest.approx(-1.0, abs=1e-3)
    assert not report.degraded
