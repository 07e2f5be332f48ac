"""The promotion gate: measure, judge, and move the alias only on a pass (or a recorded override).

Path: ``promote`` pins the reference to ``name:version`` -> ``evaluate_gate`` gathers
the ``Evidence`` and has the ``PromotionPolicy`` judge it -> on a pass the alias moves,
in one transaction with an audit event holding the whole report; on a failure
``PromotionRefused`` lists each failing criterion with its measured value and threshold.
``force`` with a ``reason`` moves it anyway and marks the event forced.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from shipyard.errors import RegistryError, ShipyardError
from shipyard.registry.errors import PromotionRefused
from shipyard.registry.evidence import Evidence, gather_evidence
from shipyard.registry.policy import Criterion, PromotionPolicy
from shipyard.registry.reference import CHAMPION, ModelRef, check_alias

if TYPE_CHECKING:
    from shipyard.data import Dataset
    from shipyard.registry.registry import Registry

__all__ = ["Criterion", "Evidence", "GateReport", "PromotionPolicy", "evaluate_gate", "promote"]


@dataclass(frozen=True)
class GateReport:
    """The gate's verdict on one candidate for one alias, with everything behind it.

    ``outcome``: ``evaluated`` (only judged), ``promoted``, ``forced`` (moved despite
    failing criteria), ``refused`` or ``unchanged`` (the alias already pointed there).
    """

    candidate: str
    alias: str
    evidence: Evidence
    criteria: tuple[Criterion, ...]
    policy: PromotionPolicy
    outcome: str = "evaluated"
    reason: str | None = None
    event_id: int | None = None

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.criteria)

    @property
    def failed(self) -> tuple[Criterion, ...]:
        return tuple(c for c in self.criteria if not c.passed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (NaN and infinities become None), as stored with the alias move."""
        from shipyard.evaluation.serialize import finite

        return finite(  # type: ignore[no-any-return]
            {
                "candidate": self.candidate,
                "alias": self.alias,
                "outcome": self.outcome,
                "passed": self.passed,
                "reason": self.reason,
                "event_id": self.event_id,
                "criteria": [c.to_dict() for c in self.criteria],
                "policy": self.policy.to_dict(),
                "evidence": self.evidence.to_dict(),
            }
        )


def evaluate_gate(
    registry: Registry,
    candidate_ref: str | ModelRef,
    alias: str = CHAMPION,
    evaluation_dataset: str | Dataset | None = None,
    *,
    policy: PromotionPolicy | None = None,
    n_bootstrap: int = 1000,
    latency_calls: int = 200,
) -> GateReport:
    """Judge whether ``candidate_ref`` may take ``alias``, without moving anything.

    Args:
        evaluation_dataset: a dataset (or its name or digest) to score both versions
            on; default ``gate.evaluation_dataset`` from shipyard.yaml, else the
            dataset each version was registered with.
        policy: default ``PromotionPolicy.from_spec(settings.gate)``.

    Example:
        >>> report = evaluate_gate(Registry(project), "housing:4")
        >>> report.passed, [c.describe() for c in report.failed]
    """
    check_alias(alias)
    settings = registry.project.settings
    policy = policy or PromotionPolicy.from_spec(settings.gate)
    candidate = registry.get(candidate_ref)
    dataset = evaluation_dataset or settings.gate.evaluation_dataset
    if isinstance(dataset, str):
        from shipyard.data import Dataset

        dataset = Dataset.load(dataset, registry.project)
    evidence = gather_evidence(
        registry,
        candidate,
        alias,
        policy,
        dataset=dataset,
        n_bootstrap=n_bootstrap,
        latency_calls=latency_calls,
    )
    return GateReport(candidate.ref, alias, evidence, policy.judge(evidence), policy)


def promote(
    registry: Registry,
    ref: str | ModelRef,
    to: str = CHAMPION,
    *,
    actor: str,
    force: bool = False,
    reason: str | None = None,
    evaluation_dataset: str | Dataset | None = None,
    policy: PromotionPolicy | None = None,
    n_bootstrap: int = 1000,
    latency_calls: int = 200,
) -> GateReport:
    """Move alias ``to`` onto the version ``ref`` names, if the gate passes.

    The alias moves only if it still points where it did when the gate looked, so
    two promotions at once cannot both win on stale evidence.

    Args:
        actor: who promotes; recorded with the move.
        force: move even when criteria fail; needs ``reason``. The gate still runs
            and its evidence is recorded with the move.

    Raises:
        PromotionRefused: a criterion failed and ``force`` is off; lists each one.
        AliasMovedError: the alias moved while the gate was running.
        RegistryError: ``force`` without a reason.

    Example:
        >>> promote(registry, "housing:4", actor="ana")          # gated
        >>> promote(registry, "housing:2", actor="ana", force=True,
        ...         reason="rollback: v4 mispredicts new listings")
    """
    check_alias(to)
    if force and not (reason and reason.strip()):
        raise RegistryError(
            "--force needs --reason TEXT", hint="say why the gate is overridden; it is recorded"
        )
    policy = policy or PromotionPolicy.from_spec(registry.project.settings.gate)
    candidate = registry.get(ref)
    current = registry.store.aliases(candidate.name).get(to)
    if current == candidate.version:
        evidence = Evidence(candidate.ref, to, candidate.size_bytes)
        return GateReport(candidate.ref, to, evidence, (), policy, outcome="unchanged")
    try:
        report = evaluate_gate(
            registry,
            candidate.ref,
            to,
            evaluation_dataset,
            policy=policy,
            n_bootstrap=n_bootstrap,
            latency_calls=latency_calls,
        )
    except ShipyardError as exc:
        if not force:
            raise
        # an override is often needed exactly when the evidence cannot be gathered
        # (a broken champion); record why instead of failing the override
        report = _unmeasured(candidate.ref, to, candidate.size_bytes, policy, exc)
    if not report.passed and not force:
        refused = replace(report, outcome="refused")
        raise PromotionRefused(candidate.ref, to, refused.failed, report=refused)
    forced = not report.passed
    report = replace(report, outcome="forced" if forced else "promoted", reason=reason)
    event = registry.set_alias(
        candidate.ref,
        to,
        actor=actor,
        reason=reason,
        forced=forced,
        evidence=report.to_dict(),
        expected_from=current,
    )
    return replace(report, event_id=event.id)


def _unmeasured(
    ref: str, alias: str, size_bytes: int, policy: PromotionPolicy, exc: ShipyardError
) -> GateReport:
    note = f"the gate could not be evaluated: {exc}"
    evidence = Evidence(ref, alias, size_bytes, note=note)
    criterion = Criterion("gate", False, None, None, note)
    return GateReport(ref, alias, evidence, (criterion,), policy)
