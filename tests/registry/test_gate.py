"""The promotion gate on real bundles: better promoted, worse and unproven refused with reasons."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from shipyard.data import Dataset
from shipyard.errors import RegistryError
from shipyard.project import Project
from shipyard.registry import (
    AliasMovedError,
    PromotionRefused,
    Registry,
    VersionNotFoundError,
    evaluate_gate,
    promote,
)
from shipyard.registry import gate as gate_module


@pytest.fixture
def gated(
    make_project: Callable[..., Project], bundles: dict[str, Path], eval_rows: pd.DataFrame
) -> Registry:
    """A project whose gate scores on a frozen dataset; housing:1 is champion, then
    housing:2 better, :3 marginal, :4 worse."""
    project = make_project("gate.evaluation_dataset=housing-eval")
    Dataset.snapshot(eval_rows, "housing-eval", project)
    registry = Registry(project)
    for kind in ("champion", "better", "marginal", "worse"):
        registry.register("housing", bundles[kind])
    promote(registry, "housing:1", actor="ana")  # a first version: nothing to beat
    return registry


def _names(criteria: object) -> list[str]:
    return [c.name for c in criteria]  # type: ignore[attr-defined]


def test_a_better_candidate_is_promoted_with_its_evidence_recorded(gated: Registry) -> None:
    report = promote(gated, "housing:2", actor="bo", reason="weekly retrain")
    assert report.outcome == "promoted"
    assert _names(report.criteria) == ["improvement", "significance"]
    ev = report.evidence
    assert ev.incumbent == "housing:1"
    assert ev.metric == "rmse"
    assert ev.improvement is not None and ev.improvement > 0.2
    assert ev.improvement_low is not None and ev.improvement_low > 0
    assert ev.p_value is not None and ev.p_value < 1e-4
    assert ev.n_rows == 200 and ev.dataset_name == "housing-eval"
    assert gated.get("housing@champion").version == 2
    last = gated.history("housing")[-1]
    assert (last.actor, last.reason, last.forced, last.from_version) == (
        "bo",
        "weekly retrain",
        False,
        1,
    )
    assert last.evidence["outcome"] == "promoted"
    assert last.evidence["evidence"]["dataset_digest"] == ev.dataset_digest
    assert last.id == report.event_id


def test_a_worse_candidate_is_refused_listing_measured_values_and_thresholds(
    gated: Registry,
) -> None:
    with pytest.raises(PromotionRefused) as info:
        promote(gated, "housing:4", actor="bo")
    refused = info.value
    assert _names(refused.failed) == ["improvement", "significance"]
    improvement = refused.failed[0]
    assert improvement.measured < 0 and improvement.threshold == 0.0  # type: ignore[operator]
    message = str(refused)
    assert "housing:4 was not promoted to 'champion'" in message
    assert "rmse improves by -" in message and "needs > 0" in message
    assert "--force --reason" in message
    assert refused.report is not None and refused.report.outcome == "refused"
    assert gated.get("housing@champion").version == 1
    assert len(gated.history("housing")) == 1  # a refusal moves nothing


def test_a_candidate_better_by_chance_only_is_refused_on_significance(gated: Registry) -> None:
    with pytest.raises(PromotionRefused) as info:
        promote(gated, "housing:3", actor="bo")
    report = info.value.report
    assert report is not None
    assert report.evidence.improvement is not None and report.evidence.improvement > 0
    assert _names(report.failed) == ["significance"]
    assert report.failed[0].measured > 0.05  # type: ignore[operator]
    assert "needs p < 0.05" in str(info.value)


def test_min_delta_is_a_threshold_in_the_metrics_units(
    gated: Registry,
) -> None:
    policy = gate_module.PromotionPolicy(min_delta=5.0)
    report = evaluate_gate(gated, "housing:2", policy=policy)
    assert _names(report.failed) == ["improvement"]
    assert report.failed[0].threshold == 5.0
    assert "needs >= 5 and > 0" in report.failed[0].detail


def test_force_with_a_reason_moves_the_alias_and_is_recorded(gated: Registry) -> None:
    with pytest.raises(RegistryError, match="needs --reason"):
        promote(gated, "housing:4", actor="cy", force=True)
    report = promote(gated, "housing:4", actor="cy", force=True, reason="incident 42 rollback")
    assert report.outcome == "forced"
    assert gated.get("housing").version == 4
    event = gated.history("housing", "champion")[-1]
    assert (event.forced, event.reason, event.actor) == (True, "incident 42 rollback", "cy")
    failing = [c["name"] for c in event.evidence["criteria"] if not c["passed"]]
    assert failing == ["improvement", "significance"]


def test_first_version_is_gated_on_tests_and_budgets_only(
    make_project: Callable[..., Project], bundles: dict[str, Path]
) -> None:
    project = make_project("gate.required_suites=[smoke]", "gate.max_size_mb=1")
    registry = Registry(project)
    registry.register("housing", bundles["worse"])
    with pytest.raises(PromotionRefused, match=r"tests:smoke: suite 'smoke' not run") as info:
        promote(registry, "housing:1", actor="ana")
    assert _names(info.value.failed) == ["tests:smoke"]
    registry.record_test_results("housing:1", "smoke", False, {})
    with pytest.raises(PromotionRefused, match="suite 'smoke' failed"):
        promote(registry, "housing:1", actor="ana")
    registry.record_test_results("housing:1", "smoke", True, {})
    report = promote(registry, "housing:1", actor="ana")
    # no champion to beat and no dataset configured: no data was needed
    assert _names(report.criteria) == ["tests:smoke", "size_mb"]
    assert report.evidence.dataset_digest is None
    assert registry.get("housing").version == 1


def test_budgets_refuse_a_slow_or_large_candidate(
    make_project: Callable[..., Project], bundles: dict[str, Path]
) -> None:
    project = make_project("gate.max_latency_p99_ms=0.000001", "gate.max_size_mb=0.000001")
    registry = Registry(project)
    registry.register("housing", bundles["better"])
    report = evaluate_gate(registry, "housing:1", latency_calls=20)
    assert _names(report.failed) == ["latency_p99_ms", "size_mb"]
    latency, size = report.failed
    assert latency.measured > 0 and latency.threshold == 0.000001  # type: ignore[operator]
    assert "ms, needs <= 1e-06 ms" in latency.detail
    assert size.measured == pytest.approx(registry.get("housing:1").size_bytes / 1e6)

    roomy = make_project("gate.max_latency_p99_ms=10000", "gate.max_size_mb=100")
    assert evaluate_gate(Registry(roomy), "housing:1", latency_calls=20).passed


def test_versions_scored_on_different_datasets_are_not_compared(
    make_project: Callable[..., Project], bundles: dict[str, Path], eval_rows: pd.DataFrame
) -> None:
    project = make_project()  # no gate.evaluation_dataset: each version's own is used
    first = Dataset.snapshot(eval_rows, "eval-a", project)
    second = Dataset.snapshot(eval_rows.iloc[:150], "eval-b", project)
    registry = Registry(project)
    registry.register("housing", bundles["champion"], details={"evaluation_dataset": first.digest})
    promote(registry, "housing:1", actor="ana")
    registry.register("housing", bundles["better"], details={"evaluation_dataset": second.digest})
    with pytest.raises(PromotionRefused, match="same frozen dataset") as info:
        promote(registry, "housing:2", actor="ana")
    (criterion,) = info.value.failed
    assert (criterion.name, criterion.measured, criterion.threshold) == (
        "same_dataset",
        second.digest[:12],
        first.digest[:12],
    )
    # the same dataset recorded on both versions is compared, and the better one wins
    registry.register("housing", bundles["better"], details={"evaluation_dataset": first.digest})
    assert promote(registry, "housing:3", actor="ana").outcome == "promoted"
    # and an explicit dataset overrides what the versions recorded
    report = evaluate_gate(registry, "housing:2", evaluation_dataset="eval-a")
    assert (
        report.evidence.dataset_digest == report.evidence.incumbent_dataset_digest == first.digest
    )
    assert "same_dataset" not in _names(report.criteria)


def test_a_champion_without_a_known_dataset_cannot_be_beaten_unforced(
    make_project: Callable[..., Project], bundles: dict[str, Path]
) -> None:
    registry = Registry(make_project())
    registry.register("housing", bundles["champion"])
    promote(registry, "housing:1", actor="ana")
    registry.register("housing", bundles["better"])
    with pytest.raises(PromotionRefused, match="no frozen evaluation dataset is known"):
        promote(registry, "housing:2", actor="ana")


def test_an_unusable_target_is_a_failing_criterion_not_a_crash(
    gated: Registry, bundles: dict[str, Path]
) -> None:
    gated.register("housing", bundles["better"], target="price")
    with pytest.raises(PromotionRefused, match="target column 'price'"):
        promote(gated, "housing:5", actor="bo")


def test_other_aliases_are_gated_on_tests_and_budgets_only(gated: Registry) -> None:
    report = promote(gated, "housing:4", "challenger", actor="bo")
    assert (report.outcome, report.criteria) == ("promoted", ())
    assert gated.get("housing@challenger").version == 4


def test_promoting_the_current_holder_changes_nothing(gated: Registry) -> None:
    report = promote(gated, "housing:1", actor="bo")
    assert report.outcome == "unchanged"
    assert len(gated.history("housing")) == 1


def test_the_alias_does_not_move_if_it_moved_while_the_gate_ran(
    gated: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = gate_module.gather_evidence

    def racing(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        gated.set_alias("housing:3", "champion", actor="eve", forced=True, reason="race")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(gate_module, "gather_evidence", racing)
    with pytest.raises(AliasMovedError, match="points at version 3, not version 1"):
        promote(gated, "housing:2", actor="bo")
    assert gated.get("housing").version == 3


def test_bad_references_are_clear_errors(gated: Registry) -> None:
    with pytest.raises(VersionNotFoundError, match="known versions: 1, 2, 3, 4"):
        promote(gated, "housing:9", actor="bo")
    with pytest.raises(RegistryError, match="reserved"):
        promote(gated, "housing:2", "latest", actor="bo")


@pytest.mark.postgres
def test_promotion_and_its_evidence_are_stored_in_postgresql(
    make_project: Callable[..., Project],
    bundles: dict[str, Path],
    eval_rows: pd.DataFrame,
    pg_store_url: str,
) -> None:
    project = make_project(f"store={pg_store_url}", "gate.evaluation_dataset=housing-eval")
    Dataset.snapshot(eval_rows, "housing-eval", project)
    registry = Registry(project)
    registry.register("housing", bundles["champion"])
    registry.register("housing", bundles["marginal"])
    registry.register("housing", bundles["better"])
    promote(registry, "housing:1", actor="ana")
    with pytest.raises(PromotionRefused):
        promote(registry, "housing:2", actor="bo")
    report = promote(registry, "housing:3", actor="bo")
    stored = registry.history("housing")[-1].evidence
    assert stored == report.to_dict() | {"event_id": None}
    assert stored["evidence"]["p_value"] < 0.05


@pytest.mark.parametrize("metric", ["r2", "mae"])
def test_a_better_candidate_passes_on_a_metric_judged_by_bootstrap_or_test(
    make_project: Callable[..., Project],
    bundles: dict[str, Path],
    eval_rows: pd.DataFrame,
    metric: str,
) -> None:
    higher = metric == "r2"
    project = make_project(
        "gate.evaluation_dataset=housing-eval",
        f"gate.primary_metric={metric}",
        f"gate.greater_is_better={str(higher).lower()}",
    )
    Dataset.snapshot(eval_rows, "housing-eval", project)
    registry = Registry(project)
    for kind in ("champion", "better", "worse"):
        registry.register("housing", bundles[kind])
    promote(registry, "housing:1", actor="ana")
    report = promote(registry, "housing:2", actor="bo", n_bootstrap=400)
    assert report.outcome == "promoted"
    assert report.evidence.p_value is not None and report.evidence.p_value < 0.01
    with pytest.raises(PromotionRefused, match="significance"):
        promote(registry, "housing:3", actor="bo", n_bootstrap=400)
