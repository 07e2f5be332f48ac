"""The promotion policy: what the gate's evidence must show, judged criterion by criterion.

Pure decisions on measured numbers (``Evidence``); nothing here loads a model or reads
data, so every rule can be checked on made-up evidence. Rules:

- every required test suite has a recorded pass on the candidate;
- when ``champion`` is the alias and one exists: candidate and champion were scored
  on the same frozen dataset (same sha256); the primary metric improves by more than
  0 and by at least ``min_delta`` (in the metric's units); and the paired test's
  one-sided p-value ("the candidate is better") is below ``alpha``;
- latency p99 (one row per call) and bundle size within their budgets, when set.

A first version (no champion), and any alias other than ``champion``, is judged on
tests and budgets only: a challenger exists to be tried online.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from shipyard.config import GateSpec
from shipyard.errors import ConfigError

if TYPE_CHECKING:
    from shipyard.registry.evidence import Evidence

MB = 1_000_000


@dataclass(frozen=True)
class Criterion:
    """One rule of the gate: what was measured, what it had to be, and whether it was."""

    name: str
    passed: bool
    measured: float | str | None
    threshold: float | str | None
    detail: str

    def describe(self) -> str:
        """``name: detail`` — the detail holds the measured value and the threshold."""
        return f"{self.name}: {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PromotionPolicy:
    """The gate's thresholds, usually ``PromotionPolicy.from_spec(settings.gate)``."""

    primary_metric: str = "rmse"
    greater_is_better: bool = False
    min_delta: float = 0.0
    alpha: float = 0.05
    required_suites: tuple[str, ...] = ()
    max_latency_p99_ms: float | None = None
    max_size_mb: float | None = None

    def __post_init__(self) -> None:
        known = _higher_is_better()
        if self.primary_metric not in known:
            raise ConfigError(
                f"gate.primary_metric {self.primary_metric!r} has no paired significance test",
                hint=f"use one of {', '.join(sorted(known))}",
            )
        if known[self.primary_metric] != self.greater_is_better:
            raise ConfigError(
                f"gate.greater_is_better is {self.greater_is_better} but "
                f"{self.primary_metric} is better when "
                f"{'higher' if known[self.primary_metric] else 'lower'}",
                hint="remove gate.greater_is_better; it follows from the metric",
            )

    @classmethod
    def from_spec(cls, spec: GateSpec) -> PromotionPolicy:
        """The policy ``shipyard.yaml``'s ``gate:`` section declares.

        The direction of a known metric follows from the metric; ``greater_is_better``
        is checked against it only when it was written in the file.
        """
        metric = spec.primary_metric
        greater = spec.greater_is_better
        if "greater_is_better" not in spec.model_fields_set:
            greater = _higher_is_better().get(metric, greater)
        return cls(
            primary_metric=metric,
            greater_is_better=greater,
            min_delta=spec.min_delta,
            alpha=spec.alpha,
            required_suites=tuple(spec.required_suites),
            max_latency_p99_ms=spec.max_latency_p99_ms,
            max_size_mb=spec.max_size_mb,
        )

    def judge(self, evidence: Evidence) -> tuple[Criterion, ...]:
        """Every criterion that applies to this evidence, passed or not."""
        criteria = [_suite(name, evidence.tests.get(name)) for name in self.required_suites]
        if evidence.incumbent is not None:
            criteria.extend(self._comparison(evidence))
        if self.max_latency_p99_ms is not None:
            criteria.append(_latency(evidence.latency_p99_ms, self.max_latency_p99_ms))
        if self.max_size_mb is not None:
            criteria.append(_size(evidence.size_bytes, self.max_size_mb))
        return tuple(criteria)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["required_suites"] = list(self.required_suites)
        return out

    def _comparison(self, ev: Evidence) -> list[Criterion]:
        if ev.dataset_digest is None or ev.dataset_digest != ev.incumbent_dataset_digest:
            return [_same_dataset(ev)]
        metric = self.primary_metric
        improvement, p = ev.improvement, ev.p_value
        if improvement is None:
            return [
                Criterion("improvement", False, None, self.min_delta, ev.note or "not measured")
            ]
        scores = f"candidate {_num(ev.candidate_score)}, {ev.incumbent} {_num(ev.incumbent_score)}"
        needed = f">= {_num(self.min_delta)} and > 0" if self.min_delta > 0 else "> 0"
        direction = "higher" if self.greater_is_better else "lower"
        criteria = [
            Criterion(
                "improvement",
                improvement > 0 and improvement >= self.min_delta,
                improvement,
                self.min_delta,
                f"{metric} improves by {_num(improvement)} ({direction} is better; {scores}), "
                f"needs {needed}",
            ),
            Criterion(
                "significance",
                p is not None and p < self.alpha,
                p,
                self.alpha,
                f"{_test_name(ev.test)} on {ev.n_rows} rows gives p = {_num(p)}, "
                f"needs p < {_num(self.alpha)}",
            ),
        ]
        return criteria


def _suite(name: str, passed: bool | None) -> Criterion:
    measured = "not run" if passed is None else ("passed" if passed else "failed")
    detail = f"suite {name!r} {measured}, needs passed"
    if passed is None:
        detail += " (run `shipyard test` on this version to record it)"
    return Criterion(f"tests:{name}", passed is True, measured, "passed", detail)


def _same_dataset(ev: Evidence) -> Criterion:
    cand = _digest(ev.dataset_digest)
    champ = _digest(ev.incumbent_dataset_digest)
    if ev.dataset_digest is None:
        detail = (
            "no frozen evaluation dataset is known for the candidate, needs one shared "
            "with the champion (set gate.evaluation_dataset in shipyard.yaml)"
        )
    else:
        detail = (
            f"candidate was evaluated on dataset {cand}, {ev.incumbent} on {champ}, needs "
            "the same frozen dataset (set gate.evaluation_dataset in shipyard.yaml, or "
            "pass --data DATASET)"
        )
    return Criterion("same_dataset", False, cand, champ, detail)


def _latency(measured: float | None, budget: float) -> Criterion:
    ok = measured is not None and measured <= budget
    return Criterion(
        "latency_p99_ms",
        ok,
        measured,
        budget,
        f"one-row latency p99 is {_num(measured)} ms, needs <= {_num(budget)} ms",
    )


def _size(size_bytes: int, budget_mb: float) -> Criterion:
    size_mb = size_bytes / MB
    return Criterion(
        "size_mb",
        size_mb <= budget_mb,
        size_mb,
        budget_mb,
        f"bundle is {_num(size_mb)} MB, needs <= {_num(budget_mb)} MB",
    )


def _digest(value: str | None) -> str:
    return "none" if value is None else value[:12]


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def failed(criteria: Sequence[Criterion]) -> tuple[Criterion, ...]:
    """The criteria that did not pass."""
    return tuple(c for c in criteria if not c.passed)


def _higher_is_better() -> dict[str, bool]:
    # imported on use: the statistics pull in scikit-learn, which `shipyard models
    # list` and the server's reference parsing never need
    from shipyard.evaluation.significance import METRICS

    return {name: m.higher_is_better for name, m in METRICS.items()}


def _test_name(test: str | None) -> str:
    if not test:
        return "paired test"
    return test if test.startswith("paired") else f"paired {test}"
