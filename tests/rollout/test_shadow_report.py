"""The shadow report: agreement or differences, latency and errors per side, worst examples."""

from __future__ import annotations

import numpy as np
import pytest

from shipyard.rollout.analysis import Observation
from shipyard.rollout.shadow import shadow_report


def _pair(i: int, primary, shadow, *, shadow_status: int = 200, shadow_ms: float = 3.0):
    p = Observation(f"r{i}", float(i), "primary", 1.0, outputs={"y": [primary]}, inputs={"x": [i]})
    s = Observation(f"r{i}~shadow", float(i), "shadow", shadow_ms, status=shadow_status,
                    outputs={} if shadow_status != 200 else {"y": [shadow]})  # fmt: skip
    return p, s


def test_regression_shadow_reports_the_difference_distribution_and_worst_rows() -> None:
    rng = np.random.default_rng(0)
    pairs = [
        _pair(i, float(v), float(v + rng.normal(0.5, 0.1)))
        for i, v in enumerate(rng.normal(size=200))
    ]
    pairs.append(_pair(999, 1.0, 50.0))
    pairs.append(_pair(1000, 1.0, None, shadow_status=500))
    served, mirrored = [p for p, _ in pairs], [s for _, s in pairs]
    report = shadow_report("housing", served, mirrored)
    (cmp,) = report.comparisons
    assert cmp.task == "regression" and cmp.paired == 201
    assert cmp.difference["mean"] == pytest.approx(0.5 + 49 / 201, abs=0.05)
    assert cmp.disagreements[0]["request_id"] == "r999"
    assert cmp.disagreements[0]["inputs"] == {"x": 999}
    (side,) = report.shadows
    assert (side.requests, side.errors) == (202, 1)
    assert report.primary.latency_p99_ms == pytest.approx(1.0)
    assert side.latency_p50_ms == pytest.approx(3.0)
    assert report.to_dict()["comparisons"][0]["difference"]["n"] == 201


def test_classification_shadow_reports_agreement() -> None:
    pairs = [_pair(i, [0.9, 0.1], [0.8, 0.2] if i % 4 else [0.3, 0.7]) for i in range(100)]
    report = shadow_report("churn", [p for p, _ in pairs], [s for _, s in pairs])
    (cmp,) = report.comparisons
    assert cmp.task == "classification" and cmp.agreement == pytest.approx(0.75)
    assert len(cmp.disagreements) == 10
    assert all(d["request_id"].endswith(("0", "4", "8", "2", "6")) for d in cmp.disagreements)
