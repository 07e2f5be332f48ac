"""Canary analysis: judge the canary against the stable version on one window of traffic.

Each criterion passes, fails or is inconclusive (too little data); a criterion with
nothing to judge is skipped. As in Kayenta and Argo Rollouts, a criterion fails only
on evidence that the canary is worse than its tolerance, and passes once there is
enough data and no such evidence:

- ``error_rate``: always-valid (mSPRT) interval of canary - stable error rate, on
  Agresti-Caffo counts (one error and one success added to each side, so zero
  errors on both sides still carry evidence); fails when its lower end is above
  ``max_increase``. Valid however often the controller looks.
- ``latency``: two one-sided tests of "the canary is at most ``max_ratio`` times
  slower": Mann-Whitney U of canary latencies against ``max_ratio`` x stable
  latencies (the bulk), and Fisher's exact test of the tail: canary latencies over
  ``max_ratio`` against stable ones pooled, how many of each side lie above the
  pool's p99. The tail is compared with the stable's own tail in the same window,
  not with a nominal 1%, because slow moments (a pause, a busy core) hit both
  sides at once: the count over a threshold is then clustered in time, which a
  binomial test of independent requests takes for evidence. Which side serves a
  request does not depend on the moment it arrives, so within a window the sides'
  labels are exchangeable and the exact test holds however the slow ones cluster.
- ``prediction_shift``: PSI or Jensen-Shannon distance of the canary's predictions
  from the stable's; fails when the distance exceeds ``max`` *and* a chi-square test
  of homogeneity on the same bins rejects (small windows make PSI large by chance).
- ``outcome``: the online outcome joined to each request (|error|, accuracy or the
  value itself); always-valid interval of the difference in means; fails when the
  canary is worse by more than ``max_degradation``.

With a segment field, every criterion is also run per segment value, so a
regression in one region is caught even when the total looks fine.

Data enters through a ``RolloutMetricsSource``; ``StoreMetricsSource`` reads the
prediction events and outcomes the monitoring sink stored.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from shipyard.rollout.spec import AnalysisSpec, FieldRef
from shipyard.rollout.statistics import (
    prediction_shift,
    sequential_means,
    sequential_proportions,
)

PASS = "pass"
FAIL = "fail"
INCONCLUSIVE = "inconclusive"
SKIPPED = "skipped"
ERROR_TAU2 = 0.01  # mixing sd of 10 points of error rate: the size of regression to catch fast
MAX_SEGMENTS = 20


@dataclass(frozen=True)
class Observation:
    """One request served by a variant of the endpoint."""

    request_id: str
    at: float
    variant: str
    latency_ms: float
    status: int = 200
    key: str | None = None
    outputs: Mapping[str, Any] = field(default_factory=dict)
    inputs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Answered without error; a 4xx counts too: a canary refusing what stable takes is a regression."""
        return self.status < 400


class RolloutMetricsSource(Protocol):
    """Where the controller reads an endpoint's served requests and their outcomes."""

    def observations(
        self, endpoint: str, *, since: float, until: float, shadow: bool = False
    ) -> list[Observation]:
        """Served requests in ``[since, until)`` (mirrored ones with ``shadow``), oldest first."""
        ...

    def outcomes(self, endpoint: str, kind: str, *, since: float, until: float) -> dict[str, float]:
        """``{request_id: value}`` of outcomes of ``kind`` for requests in the window."""
        ...


class StoreMetricsSource:
    """Reads prediction events and outcomes from the project's event store.

    Args:
        events: a ``shipyard.store.events.EventStore``.
        limit: the most events read per window.
    """

    def __init__(self, events: Any, *, limit: int = 200_000) -> None:
        self.events = events
        self.limit = limit

    def observations(
        self, endpoint: str, *, since: float, until: float, shadow: bool = False
    ) -> list[Observation]:
        records = self.events.recent(
            endpoint, since=since, until=until, shadow=shadow, limit=self.limit, oldest=True
        )
        return [
            Observation(
                r.request_id, r.at, r.variant, r.latency_ms, r.status, r.key, r.outputs, r.inputs
            )
            for r in records
        ]

    def outcomes(self, endpoint: str, kind: str, *, since: float, until: float) -> dict[str, float]:
        pairs = self.events.joined(endpoint, kind, since=since, until=until, limit=self.limit)
        return {event.request_id: outcome.value for event, outcome in pairs}


@dataclass(frozen=True)
class CriterionResult:
    """One criterion's verdict on one slice of traffic, with its evidence."""

    name: str
    verdict: str
    reason: str
    required: bool = True
    segment: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verdict": self.verdict,
            "reason": self.reason,
            "required": self.required,
            "segment": self.segment,
            "evidence": dict(self.evidence),
        }


@dataclass(frozen=True)
class AnalysisReport:
    """The verdict of one look: fail if any criterion failed (any segment too), else
    inconclusive if a required criterion on all traffic is, else pass."""

    verdict: str
    criteria: tuple[CriterionResult, ...]
    since: float
    until: float
    counts: Mapping[str, int]

    @property
    def failed(self) -> tuple[CriterionResult, ...]:
        return tuple(c for c in self.criteria if c.verdict == FAIL)

    def summary(self) -> str:
        if self.verdict == FAIL:
            return "; ".join(
                f"{c.name}{'' if c.segment is None else f'[{c.segment}]'}: {c.reason}"
                for c in self.failed
            )
        waiting = [c for c in self.criteria if c.verdict == INCONCLUSIVE and c.segment is None]
        if waiting:
            return "; ".join(f"{c.name}: {c.reason}" for c in waiting)
        return "every criterion passed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "summary": self.summary(),
            "window": {"since": self.since, "until": self.until},
            "counts": dict(self.counts),
            "criteria": [c.to_dict() for c in self.criteria],
        }


def analyse(
    observations: Sequence[Observation],
    outcomes: Mapping[str, float],
    spec: AnalysisSpec,
    *,
    since: float,
    until: float,
    looks: Sequence[float] = (),
    stable: str = "stable",
    canary: str = "canary",
    segment_by: FieldRef | None = None,
    segment_values: Sequence[str] | None = None,
) -> AnalysisReport:
    """Judge ``canary`` against ``stable`` on the observations of one window.

    Args:
        looks: times of earlier looks in this window; the error-rate test uses the
            counts at each (its interval stays valid across looks).
        segment_by: a feature to analyse per value as well (``spec.segment_by`` wins).
        segment_values: while a segment rollout is active, the values the canary
            serves; the overall comparison then uses only stable requests of those
            values, so like is compared with like (VN canary prices against VN stable
            prices, not against every region's).
    """
    by_variant = [o for o in observations if o.variant in (stable, canary)]
    field_ref = spec.segment_by or segment_by
    if segment_values is not None and field_ref is not None and field_ref.source == "feature":
        allowed = {str(v) for v in segment_values}
        by_variant = [o for o in by_variant if str(_first(o.inputs.get(field_ref.name))) in allowed]
    counts = Counter(o.variant for o in by_variant)
    results = list(_criteria(by_variant, outcomes, spec, looks, stable, canary, None))
    if field_ref is not None and field_ref.source == "feature":
        for value, subset in _segments(by_variant, field_ref.name, canary):
            results.extend(_criteria(subset, outcomes, spec, looks, stable, canary, value))
    if any(r.verdict == FAIL for r in results):
        verdict = FAIL
    elif any(r.verdict == INCONCLUSIVE and r.required and r.segment is None for r in results):
        verdict = INCONCLUSIVE
    else:
        verdict = PASS
    return AnalysisReport(
        verdict, tuple(results), since, until, {stable: counts[stable], canary: counts[canary]}
    )


def _criteria(
    obs: Sequence[Observation],
    outcomes: Mapping[str, float],
    spec: AnalysisSpec,
    looks: Sequence[float],
    stable: str,
    canary: str,
    segment: str | None,
) -> list[CriterionResult]:
    s = [o for o in obs if o.variant == stable]
    c = [o for o in obs if o.variant == canary]
    out: list[CriterionResult] = []
    if spec.error_rate is not None:
        out.append(_error_rate(s, c, spec, looks, segment))
    served_s, served_c = [o for o in s if o.ok], [o for o in c if o.ok]
    if spec.latency is not None:
        out.append(_latency(served_s, served_c, spec, segment))
    if spec.prediction_shift is not None:
        out.append(_shift(served_s, served_c, spec, segment))
    if spec.outcome is not None:
        out.append(_outcome(served_s, served_c, outcomes, spec, segment))
    return out


def _segments(
    obs: Sequence[Observation], feature: str, canary: str
) -> list[tuple[str, list[Observation]]]:
    groups: dict[str, list[Observation]] = {}
    for o in obs:
        value = _first(o.inputs.get(feature))
        if value is not None:
            groups.setdefault(str(value), []).append(o)
    seen = Counter(
        str(v)
        for o in obs
        if o.variant == canary and (v := _first(o.inputs.get(feature))) is not None
    )
    return [(value, groups[value]) for value, _ in seen.most_common(MAX_SEGMENTS)]


def _too_few(
    name: str, ns: int, nc: int, spec: AnalysisSpec, segment: str | None, **kw: Any
) -> CriterionResult | None:
    if min(ns, nc) >= spec.min_samples:
        return None
    return CriterionResult(
        name, INCONCLUSIVE,
        f"{nc} canary and {ns} stable requests; {spec.min_samples} of each are needed",
        segment=segment, evidence={"n_stable": ns, "n_canary": nc}, **kw,
    )  # fmt: skip


# ---------------------------------------------------------------------- error rate
def _error_rate(
    s: Sequence[Observation], c: Sequence[Observation], spec: AnalysisSpec,
    looks: Sequence[float], segment: str | None,
) -> CriterionResult:  # fmt: skip
    assert spec.error_rate is not None
    margin = spec.error_rate.max_increase
    es, ec = sum(not o.ok for o in s), sum(not o.ok for o in c)
    evidence: dict[str, Any] = {
        "n_stable": len(s), "n_canary": len(c), "errors_stable": es, "errors_canary": ec,
        "rate_stable": es / len(s) if s else None, "rate_canary": ec / len(c) if c else None,
        "max_increase": margin,
    }  # fmt: skip
    too_few = _too_few("error_rate", len(s), len(c), spec, segment)
    if too_few is not None:
        return CriterionResult(**{**too_few.__dict__, "evidence": evidence})
    # counts at every earlier look and now: the mSPRT interval is their intersection
    ts, tc = np.array([o.at for o in s]), np.array([o.at for o in c])
    bad_s, bad_c = np.array([not o.ok for o in s]), np.array([not o.ok for o in c])
    last = max(ts.max(), tc.max())
    cut = [*sorted(t for t in looks if t < last), math.inf]
    sa = [int(bad_s[ts < t].sum()) + 1 for t in cut]
    na = [int((ts < t).sum()) + 2 for t in cut]
    sb = [int(bad_c[tc < t].sum()) + 1 for t in cut]
    nb = [int((tc < t).sum()) + 2 for t in cut]
    result = sequential_proportions(sa, na, sb, nb, tau2=ERROR_TAU2, alpha=1 - spec.confidence)
    evidence.update(
        difference=result.difference, ci_low=result.ci_low, ci_high=result.ci_high,
        pvalue=result.pvalue, test="msprt-agresti-caffo", looks=len(cut),
    )  # fmt: skip
    if result.ci_low > margin:
        reason = (
            f"canary error rate {ec / len(c):.2%} vs stable {es / len(s):.2%}: "
            f"higher by at least {result.ci_low:.2%} (> {margin:.2%} allowed)"
        )
        return CriterionResult("error_rate", FAIL, reason, segment=segment, evidence=evidence)
    reason = f"canary {ec / len(c):.2%} vs stable {es / len(s):.2%} errors"
    return CriterionResult("error_rate", PASS, reason, segment=segment, evidence=evidence)


# ---------------------------------------------------------------------- latency
def _latency(
    s: Sequence[Observation], c: Sequence[Observation], spec: AnalysisSpec, segment: str | None
) -> CriterionResult:
    from scipy import stats  # 0.7 s to import: only when a rollout is analysed

    assert spec.latency is not None
    too_few = _too_few("latency", len(s), len(c), spec, segment)
    if too_few is not None:
        return too_few
    ratio, q = spec.latency.max_ratio, spec.latency.quantile
    ls = np.array([o.latency_ms for o in s])
    lc = np.array([o.latency_ms for o in c])
    qs, qc = float(np.quantile(ls, q)), float(np.quantile(lc, q))
    # two tests, each at half the level; a look is one of `count`, so divide by it too
    alpha = (1 - spec.confidence) / (2 * spec.count)
    bulk = stats.mannwhitneyu(lc, ratio * ls, alternative="greater")
    # the tail: at the boundary of the hypothesis (canary = max_ratio x stable) the
    # scaled canary and the stable latencies are one population, so the pool's
    # quantile does not depend on which side a request was routed to
    pooled = float(np.quantile(np.concatenate([lc / ratio, ls]), q))
    over, stable_over = int(np.sum(lc > ratio * pooled)), int(np.sum(ls > pooled))
    table = [[over, lc.size - over], [stable_over, ls.size - stable_over]]
    tail = stats.fisher_exact(table, alternative="greater")
    evidence = {
        "n_stable": int(ls.size), "n_canary": int(lc.size),
        f"p{q * 100:g}_stable_ms": qs, f"p{q * 100:g}_canary_ms": qc,
        "p50_stable_ms": float(np.median(ls)), "p50_canary_ms": float(np.median(lc)),
        "ratio": qc / qs if qs > 0 else None, "max_ratio": ratio,
        "bulk_pvalue": float(bulk.pvalue), "threshold_ms": ratio * pooled,
        "over_threshold": over, "stable_over": stable_over,
        "tail_pvalue": float(tail.pvalue), "alpha": alpha,
    }  # fmt: skip
    if bulk.pvalue < alpha or tail.pvalue < alpha:
        which = "typical" if bulk.pvalue < alpha else "tail"
        reason = (
            f"canary {which} latency above {ratio:g}x stable: p{q * 100:g} {qc:.2f} ms vs "
            f"{qs:.2f} ms, p50 {evidence['p50_canary_ms']:.2f} ms vs {evidence['p50_stable_ms']:.2f} ms"
        )
        return CriterionResult("latency", FAIL, reason, segment=segment, evidence=evidence)
    reason = f"p{q * 100:g} canary {qc:.2f} ms vs stable {qs:.2f} ms"
    return CriterionResult("latency", PASS, reason, segment=segment, evidence=evidence)


# ---------------------------------------------------------------------- prediction shift
def _shift(
    s: Sequence[Observation], c: Sequence[Observation], spec: AnalysisSpec, segment: str | None
) -> CriterionResult:
    from scipy import stats  # 0.7 s to import: only when a rollout is analysed

    shift = spec.prediction_shift
    assert shift is not None
    name = shift.output or _first_output(s or c)
    if name is None:
        return CriterionResult(
            "prediction_shift", SKIPPED, "no outputs were recorded", segment=segment
        )
    vs, vc = _predictions(s, name), _predictions(c, name)
    too_few = _too_few("prediction_shift", vs.size, vc.size, spec, segment)
    if too_few is not None:
        return too_few
    # PSI grows by about (bins - 1) * (1/n + 1/m) on equal distributions: keep bins coarse
    # enough that this bias stays well under the threshold
    bins = int(max(2, min(shift.bins, min(vs.size, vc.size) // 20)))
    result = prediction_shift(vs, vc, n_bins=bins)
    distance = result.psi if shift.metric == "psi" else result.jensen_shannon
    table = np.vstack([result.stable_counts, result.canary_counts])
    table = table[:, table.sum(axis=0) > 0]
    pvalue = 1.0
    if table.shape[1] >= 2:
        pvalue = float(stats.chi2_contingency(table, correction=False).pvalue)
    alpha = (1 - spec.confidence) / spec.count
    evidence = {
        "output": name, "metric": shift.metric, "psi": result.psi,
        "jensen_shannon": result.jensen_shannon, "max": shift.max, "bins": bins,
        "chi2_pvalue": pvalue, "alpha": alpha, "n_stable": int(vs.size), "n_canary": int(vc.size),
        "mean_stable": _mean(vs), "mean_canary": _mean(vc),
    }  # fmt: skip
    if distance > shift.max and pvalue < alpha:
        reason = (
            f"{shift.metric} {distance:.3f} > {shift.max:g} on output {name!r} (p={pvalue:.2g})"
        )
        return CriterionResult("prediction_shift", FAIL, reason, segment=segment, evidence=evidence)
    reason = f"{shift.metric} {distance:.3f} (max {shift.max:g})"
    return CriterionResult("prediction_shift", PASS, reason, segment=segment, evidence=evidence)


def _first_output(obs: Sequence[Observation]) -> str | None:
    for o in obs:
        if o.outputs:
            return str(next(iter(o.outputs)))
    return None


def _predictions(obs: Sequence[Observation], name: str) -> np.ndarray:
    """Every row's prediction of one output: numbers, or labels (argmax of 2-D scores)."""
    rows: list[Any] = []
    for o in obs:
        values = o.outputs.get(name)
        if values is None:
            continue
        arr = np.asarray(values, dtype=object)
        if arr.ndim == 2:
            rows.extend(str(int(np.argmax(np.asarray(r, dtype=float)))) for r in arr)
        else:
            rows.extend(arr.reshape(-1).tolist())
    rows = [r for r in rows if r is not None]  # a NaN prediction is stored as null
    if not rows:
        return np.array([], dtype=float)
    try:
        numeric = np.asarray(rows, dtype=float)
    except (TypeError, ValueError):
        return np.asarray([str(r) for r in rows], dtype=object)
    if all(isinstance(r, str) for r in rows):
        return np.asarray(rows, dtype=object)
    return numeric[np.isfinite(numeric)]


def _mean(values: np.ndarray) -> float | None:
    return float(np.mean(values)) if values.dtype.kind == "f" and values.size else None


# ---------------------------------------------------------------------- outcomes
def _outcome(
    s: Sequence[Observation], c: Sequence[Observation], outcomes: Mapping[str, float],
    spec: AnalysisSpec, segment: str | None,
) -> CriterionResult:  # fmt: skip
    o = spec.outcome
    assert o is not None
    if not outcomes:
        return CriterionResult(
            "outcome", SKIPPED, f"no {o.kind!r} outcomes were recorded",
            required=o.required, segment=segment,
        )  # fmt: skip
    metric, ms = _outcome_metric(s, outcomes, o.metric, o.output)
    _, mc = _outcome_metric(c, outcomes, metric, o.output)
    higher_is_better = metric != "abs_error"
    too_few = _too_few("outcome", ms.size, mc.size, spec, segment, required=o.required)
    if too_few is not None:
        return too_few
    # orient so that a positive difference is the canary being worse
    worse_s, worse_c = (-ms, -mc) if higher_is_better else (ms, mc)
    pooled_sd = float(np.sqrt((np.var(ms, ddof=1) + np.var(mc, ddof=1)) / 2))
    tau2 = max(o.max_degradation, 0.1 * pooled_sd, 1e-9) ** 2
    result = sequential_means(
        count_a=[ms.size], mean_a=[float(np.mean(worse_s))], var_a=[float(np.var(ms, ddof=1))],
        count_b=[mc.size], mean_b=[float(np.mean(worse_c))], var_b=[float(np.var(mc, ddof=1))],
        tau2=tau2, alpha=1 - spec.confidence,
    )  # fmt: skip
    evidence = {
        "kind": o.kind, "metric": metric, "higher_is_better": higher_is_better,
        "n_stable": int(ms.size), "n_canary": int(mc.size),
        "mean_stable": float(np.mean(ms)), "mean_canary": float(np.mean(mc)),
        "worse_by": result.difference, "ci_low": result.ci_low, "ci_high": result.ci_high,
        "pvalue": result.pvalue, "max_degradation": o.max_degradation, "test": "msprt-means",
    }  # fmt: skip
    if result.ci_low > o.max_degradation:
        reason = (
            f"{metric} of {o.kind!r}: canary {np.mean(mc):.4g} vs stable {np.mean(ms):.4g}, "
            f"worse by at least {result.ci_low:.4g}"
        )
        return CriterionResult("outcome", FAIL, reason, o.required, segment, evidence)
    reason = f"{metric}: canary {np.mean(mc):.4g} vs stable {np.mean(ms):.4g}"
    return CriterionResult("outcome", PASS, reason, o.required, segment, evidence)


def _outcome_metric(
    obs: Sequence[Observation], outcomes: Mapping[str, float], metric: str, output: str | None
) -> tuple[str, np.ndarray]:
    values: list[float] = []
    for o in obs:
        truth = outcomes.get(o.request_id)
        if truth is None:
            continue
        if metric == "auto":
            metric = resolve_metric(o, output)
        value = request_metric(o, truth, metric, output)
        if value is not None:
            values.append(value)
    return ("value" if metric == "auto" else metric), np.asarray(values, dtype=float)


def resolve_metric(observation: Observation, output: str | None) -> str:
    """``auto`` made concrete: abs_error for a numeric prediction, accuracy for a class."""
    pred = _prediction(observation, output)
    return "abs_error" if isinstance(pred, float) else "accuracy"


def request_metric(
    observation: Observation, truth: float, metric: str, output: str | None = None
) -> float | None:
    """One request's outcome metric: ``value``, ``abs_error`` or ``accuracy``; None if unscorable."""
    if metric == "value":
        return float(truth)
    pred = _prediction(observation, output)
    if pred is None:
        return None
    try:
        if metric == "abs_error":
            return abs(float(pred) - float(truth))
        return float(float(pred) == float(truth))
    except (TypeError, ValueError):
        return None


def _prediction(observation: Observation, output: str | None) -> Any:
    outputs = observation.outputs
    name = output or (next(iter(outputs)) if outputs else None)
    pred = _first(outputs.get(name)) if name is not None else None
    if isinstance(pred, list):  # class scores: the predicted class index
        pred = int(np.argmax(np.asarray(pred, dtype=float)))
    return pred


def _first(values: Any) -> Any:
    if isinstance(values, list | tuple):
        return values[0] if values else None
    if isinstance(values, np.ndarray):
        return values.reshape(-1)[0].item() if values.size else None
    return values
