"""The promotion policy judges made-up evidence: every rule, without a model in sight."""

from __future__ import annotations

import pytest

from shipyard.config import GateSpec
from shipyard.errors import ConfigError
from shipyard.registry.evidence import Evidence
from shipyard.registry.policy import PromotionPolicy

DIGEST = "d" * 64


def _evidence(**changes: object) -> Evidence:
    base: dict[str, object] = {
        "candidate": "m:2",
        "alias": "champion",
        "size_bytes": 2_000_000,
        "incumbent": "m:1",
        "dataset_digest": DIGEST,
        "incumbent_dataset_digest": DIGEST,
        "n_rows": 500,
        "metric": "rmse",
        "candidate_score": 1.0,
        "incumbent_score": 1.2,
        "improvement": 0.2,
        "p_value": 0.001,
        "test": "t",
    }
    base.update(changes)
    return Evidence(**base)  # type: ignore[arg-type]


def _verdicts(policy: PromotionPolicy, evidence: Evidence) -> dict[str, bool]:
    return {c.name: c.passed for c in policy.judge(evidence)}


def test_direction_follows_the_metric_unless_written() -> None:
    assert PromotionPolicy.from_spec(GateSpec(primary_metric="accuracy")).greater_is_better
    assert not PromotionPolicy.from_spec(GateSpec(primary_metric="log_loss")).greater_is_better
    with pytest.raises(ConfigError, match="accuracy is better when higher"):
        PromotionPolicy.from_spec(GateSpec(primary_metric="accuracy", greater_is_better=False))


def test_a_metric_without_a_paired_test_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'mape' has no paired significance test"):
        PromotionPolicy.from_spec(GateSpec(primary_metric="mape"))


def test_spec_thresholds_carry_over() -> None:
    spec = GateSpec(
        min_delta=0.1, alpha=0.01, required_suites=["smoke"], max_latency_p99_ms=5, max_size_mb=20
    )
    policy = PromotionPolicy.from_spec(spec)
    assert (policy.min_delta, policy.alpha, policy.required_suites) == (0.1, 0.01, ("smoke",))
    assert (policy.max_latency_p99_ms, policy.max_size_mb) == (5, 20)


def test_clear_significant_improvement_passes() -> None:
    assert _verdicts(PromotionPolicy(), _evidence()) == {"improvement": True, "significance": True}


@pytest.mark.parametrize(
    ("changes", "failing"),
    [
        ({"improvement": -0.2, "p_value": 0.999}, {"improvement", "significance"}),
        ({"improvement": 0.0, "p_value": 0.5}, {"improvement", "significance"}),
        ({"p_value": 0.05}, {"significance"}),  # p must be strictly below alpha
        ({"p_value": None}, {"significance"}),
    ],
)
def test_comparison_failures(changes: dict[str, object], failing: set[str]) -> None:
    verdicts = _verdicts(PromotionPolicy(), _evidence(**changes))
    assert {name for name, ok in verdicts.items() if not ok} == failing


def test_min_delta_must_be_reached() -> None:
    policy = PromotionPolicy(min_delta=0.25)
    (improvement, _) = policy.judge(_evidence())
    assert (improvement.passed, improvement.measured, improvement.threshold) == (False, 0.2, 0.25)
    assert PromotionPolicy(min_delta=0.2).judge(_evidence())[0].passed


def test_different_datasets_fail_before_any_metric_is_judged() -> None:
    (only,) = PromotionPolicy().judge(_evidence(incumbent_dataset_digest="e" * 64))
    assert (only.name, only.passed, only.measured, only.threshold) == (
        "same_dataset",
        False,
        "d" * 12,
        "e" * 12,
    )


def test_unmeasured_comparison_fails_with_its_note() -> None:
    (only,) = PromotionPolicy().judge(_evidence(improvement=None, note="target 'y' missing"))
    assert (only.name, only.passed, only.detail) == ("improvement", False, "target 'y' missing")


def test_without_an_incumbent_only_tests_and_budgets_are_judged() -> None:
    policy = PromotionPolicy(
        required_suites=("smoke", "slices"), max_latency_p99_ms=2.0, max_size_mb=1.5
    )
    evidence = _evidence(incumbent=None, tests={"smoke": True}, latency_p99_ms=2.5)
    criteria = policy.judge(evidence)
    assert [(c.name, c.passed, c.measured) for c in criteria] == [
        ("tests:smoke", True, "passed"),
        ("tests:slices", False, "not run"),
        ("latency_p99_ms", False, 2.5),
        ("size_mb", False, 2.0),
    ]
    assert criteria[3].detail == "bundle is 2 MB, needs <= 1.5 MB"


def test_latency_not_measured_fails_its_budget() -> None:
    (latency,) = PromotionPolicy(max_latency_p99_ms=1.0).judge(_evidence(incumbent=None))
    assert not latency.passed and "n/a" in latency.detail
