"""The A/B stop-and-decide report: per-variant estimates, tests against control, SRM.

Units are routing keys (users): each key's requests are folded into one value
(binary outcomes: did the unit convert at least once; others: the unit's mean), as
``rollout.statistics`` requires one observation per independent unit. Requests
without a key count as their own unit, and the report says how many there were.
The first variant is the control. For each other variant the report gives the
fixed-horizon test (two-proportion z for binary outcomes, Welch's t otherwise),
valid for one look at a sample size fixed in advance, and the mSPRT always-valid
p-value and interval over looks at every tenth of the units, valid however often
someone peeked. The decision uses the always-valid numbers; a sample ratio
mismatch makes every result untrustworthy and says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shipyard.rollout.analysis import Observation, request_metric, resolve_metric
from shipyard.rollout.statistics import (
    ExperimentInputError,
    mean_estimate,
    proportion_estimate,
    sample_ratio_mismatch,
    sequential_means,
    sequential_proportions,
    two_proportion_z_test,
    welch_t_test,
)

LOOKS = 10


@dataclass(frozen=True)
class VariantSummary:
    """One variant's units, requests and outcome estimate."""

    name: str
    weight: float
    units: int
    requests: int
    with_outcome: int
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    method: str | None


@dataclass(frozen=True)
class Comparison:
    """One treatment against control: fixed-horizon and always-valid results."""

    variant: str
    difference: float
    test: str
    pvalue: float
    ci_low: float
    ci_high: float
    msprt_pvalue: float
    msprt_ci_low: float
    msprt_ci_high: float
    significant: bool


@dataclass(frozen=True)
class ExperimentReport:
    """The stop-and-decide report of one A/B endpoint."""

    endpoint: str
    kind: str
    metric: str
    binary: bool
    control: str
    variants: tuple[VariantSummary, ...]
    comparisons: tuple[Comparison, ...]
    srm_pvalue: float | None
    srm_mismatch: bool
    sticky_violations: int
    keyless_requests: int
    confidence: float
    decision: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)


def experiment_report(
    endpoint: str,
    observations: Sequence[Observation],
    outcomes: Mapping[str, float],
    weights: Mapping[str, float],
    *,
    kind: str = "conversion",
    metric: str = "value",
    output: str | None = None,
    higher_is_better: bool = True,
    confidence: float = 0.95,
    tau2: float | None = None,
) -> ExperimentReport:
    """Estimate each variant's outcome and decide whether the experiment can stop.

    Args:
        observations: the endpoint's served requests (with their routing keys).
        outcomes: ``{request_id: value}`` of ``kind``.
        weights: the configured weight of each variant; the first is the control.
        metric: ``value`` (the outcome), ``abs_error`` or ``accuracy`` (against the
            prediction), or ``auto``.
        tau2: the mSPRT mixing variance; default: (a tenth of the pooled sd)^2, or
            1e-4 (one point) for rates.
    """
    names = list(weights)
    notes: list[str] = []
    units: dict[str, dict[str, list[float]]] = {n: {} for n in names}
    requests = dict.fromkeys(names, 0)
    first_seen: dict[tuple[str, str], float] = {}
    keyless = 0
    owner: dict[str, set[str]] = {}
    for o in observations:
        if o.variant not in units:
            continue
        requests[o.variant] += 1
        unit = o.key if o.key is not None else f"request:{o.request_id}"
        keyless += o.key is None
        owner.setdefault(unit, set()).add(o.variant)
        bucket = units[o.variant].setdefault(unit, [])
        first_seen.setdefault((o.variant, unit), o.at)
        truth = outcomes.get(o.request_id)
        if truth is None:
            continue
        if metric == "auto":
            metric = resolve_metric(o, output)
        value = request_metric(o, truth, metric, output)
        if value is not None:
            bucket.append(value)
    sticky = sum(1 for variants in owner.values() if len(variants) > 1)
    if sticky:
        notes.append(
            f"{sticky} units were served by more than one variant: assignment is not sticky"
        )
    if keyless:
        notes.append(f"{keyless} requests had no routing key; each counts as its own unit")
    values = {n: {u: _fold(v) for u, v in units[n].items() if v} for n in names}
    binary = all(set(v.values()) <= {0.0, 1.0} for v in values.values()) and any(values.values())
    summaries = [
        _summary(n, weights[n], units[n], requests[n], values[n], binary, confidence) for n in names
    ]
    counts = np.array([len(units[n]) for n in names], dtype=np.int64)
    srm_p, srm = None, False
    if counts.sum() > 0 and all(weights[n] > 0 for n in names):
        check = sample_ratio_mismatch(counts, [weights[n] for n in names])
        srm_p, srm = check.pvalue, check.mismatch
    comparisons = []
    control = names[0]
    for name in names[1:]:
        try:
            comparisons.append(
                _compare(
                    name,
                    values[control],
                    values[name],
                    first_seen,
                    control,
                    binary,
                    confidence,
                    tau2,
                )
            )
        except ExperimentInputError as exc:
            notes.append(f"{name} vs {control}: {exc.message}")
    decision = _decide(comparisons, srm, higher_is_better, summaries)
    return ExperimentReport(
        endpoint, kind, metric, binary, control, tuple(summaries), tuple(comparisons),
        srm_p, srm, sticky, keyless, confidence, decision, tuple(notes),
    )  # fmt: skip


def _fold(values: list[float]) -> float:
    if set(values) <= {0.0, 1.0}:
        return max(values)  # converted at least once
    return float(np.mean(values))


def _summary(
    name: str, weight: float, units: Mapping[str, list[float]], requests: int,
    values: Mapping[str, float], binary: bool, confidence: float,
) -> VariantSummary:  # fmt: skip
    x = np.array(list(values.values()), dtype=float)
    estimate = low = high = None
    method = None
    if binary and x.size:
        e = proportion_estimate(int(x.sum()), int(x.size), confidence=confidence)
        estimate, low, high, method = e.value, e.low, e.high, e.method
    elif x.size >= 2:
        e = mean_estimate(x, confidence=confidence)
        estimate, low, high, method = e.value, e.low, e.high, e.method
    return VariantSummary(
        name, weight, len(units), requests, int(x.size), estimate, low, high, method
    )


def _compare(
    name: str, control: Mapping[str, float], treatment: Mapping[str, float],
    first_seen: Mapping[tuple[str, str], float], control_name: str, binary: bool,
    confidence: float, tau2: float | None,
) -> Comparison:  # fmt: skip
    a = np.array(list(control.values()), dtype=float)
    b = np.array(list(treatment.values()), dtype=float)
    if binary:
        fixed = two_proportion_z_test(
            int(a.sum()), int(a.size), int(b.sum()), int(b.size), confidence=confidence
        )
    else:
        fixed = welch_t_test(a, b, confidence=confidence)
    # looks at every tenth of the units, in the order they were first seen
    ta = np.array([first_seen[(control_name, u)] for u in control])
    tb = np.array([first_seen[(name, u)] for u in treatment])
    order_a, order_b = a[np.argsort(ta, kind="stable")], b[np.argsort(tb, kind="stable")]
    cuts = np.quantile(np.concatenate([ta, tb]), np.linspace(0.1, 1.0, LOOKS))
    na = np.array([np.sum(ta <= c) for c in cuts])
    nb = np.array([np.sum(tb <= c) for c in cuts])
    alpha = 1 - confidence
    if binary:
        sa = np.array([order_a[:k].sum() for k in na])
        sb = np.array([order_b[:k].sum() for k in nb])
        seq = sequential_proportions(sa, na, sb, nb, tau2=tau2 or 1e-4, alpha=alpha)
    else:
        pooled = math.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2)
        seq = sequential_means(
            count_a=na, mean_a=[_mean(order_a[:k]) for k in na], var_a=[_var(order_a[:k]) for k in na],
            count_b=nb, mean_b=[_mean(order_b[:k]) for k in nb], var_b=[_var(order_b[:k]) for k in nb],
            tau2=tau2 or max((0.1 * pooled) ** 2, 1e-12), alpha=alpha,
        )  # fmt: skip
    return Comparison(
        name, fixed.difference, fixed.test, fixed.pvalue, fixed.ci_low, fixed.ci_high,
        seq.pvalue, seq.ci_low, seq.ci_high, seq.rejected,
    )  # fmt: skip


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if x.size else 0.0


def _var(x: np.ndarray) -> float:
    return float(np.var(x, ddof=1)) if x.size >= 2 else 0.0


def _decide(
    comparisons: Sequence[Comparison], srm: bool, higher_is_better: bool,
    summaries: Sequence[VariantSummary],
) -> str:  # fmt: skip
    if srm:
        return "invalid: sample ratio mismatch; fix assignment or logging before reading results"
    if not comparisons:
        return "keep running: no comparison can be made yet"
    winners = [
        c.variant for c in comparisons
        if c.significant and (c.difference > 0) == higher_is_better
    ]  # fmt: skip
    losers = [c.variant for c in comparisons if c.significant and c.variant not in winners]
    control = summaries[0].name
    if winners:
        return f"stop: {', '.join(winners)} beats {control} (always-valid test)"
    if len(losers) == len(comparisons):
        return f"stop: {control} beats {', '.join(losers)} (always-valid test)"
    return "keep running: no always-valid difference yet"


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {k: _plain(getattr(value, k)) for k in value.__dataclass_fields__}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value
