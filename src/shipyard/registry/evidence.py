"""What the promotion gate measures: candidate against champion on one frozen dataset.

Path: pick the evaluation dataset (given > ``gate.evaluation_dataset`` > the one each
version was registered with) -> load both versions' models -> ``evaluation.evaluate``
each on the same rows -> ``evaluation.compare`` gives the paired delta and p-value of
the primary metric -> one-row latency of the candidate -> ``Evidence``.
Measuring never decides; ``PromotionPolicy.judge`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from shipyard.errors import EvaluationError
from shipyard.registry.reference import CHAMPION
from shipyard.store.registry import ModelVersion

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.data import Dataset
    from shipyard.registry.policy import PromotionPolicy
    from shipyard.registry.registry import Registry


@dataclass(frozen=True)
class Evidence:
    """The gate's input: measurements of a candidate, against the champion when one exists.

    ``improvement`` is in the primary metric's units and positive when the candidate is
    better (whatever the metric's direction); ``improvement_low``/``_high`` bound it.
    ``p_value`` is the paired test's for "the candidate is better" (one-sided). ``note`` says why something could not
    be measured.
    """

    candidate: str
    alias: str
    size_bytes: int
    tests: Mapping[str, bool] = field(default_factory=dict)
    incumbent: str | None = None
    dataset_digest: str | None = None
    incumbent_dataset_digest: str | None = None
    dataset_name: str | None = None
    n_rows: int | None = None
    metric: str | None = None
    candidate_score: float | None = None
    incumbent_score: float | None = None
    improvement: float | None = None
    improvement_low: float | None = None
    improvement_high: float | None = None
    p_value: float | None = None
    test: str | None = None
    latency_p99_ms: float | None = None
    comparison: Mapping[str, Any] | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: NaN and infinities become None."""
        from shipyard.evaluation.serialize import finite

        return finite(asdict(self))  # type: ignore[no-any-return]


def gather_evidence(
    registry: Registry,
    candidate: ModelVersion,
    alias: str,
    policy: PromotionPolicy,
    *,
    dataset: Dataset | None = None,
    n_bootstrap: int = 1000,
    latency_calls: int = 200,
    seed: int = 0,
) -> Evidence:
    """Measure what ``policy`` needs to judge moving ``alias`` to ``candidate``.

    Args:
        dataset: the frozen evaluation dataset for both versions; when None, each
            version's registered ``details["evaluation_dataset"]`` is used, and the two
            must be the same dataset.
        n_bootstrap: resamples for the paired intervals.
        latency_calls: one-row ``predict`` calls timed for the latency p99.

    Raises:
        NotFoundError: a named dataset is not stored.
    """
    evidence = Evidence(
        candidate=candidate.ref,
        alias=alias,
        size_bytes=candidate.size_bytes,
        tests=_recorded_tests(candidate),
    )
    incumbent = _incumbent(registry, candidate, alias)
    if incumbent is not None:
        evidence = replace(evidence, incumbent=incumbent.ref)
    needs_latency = policy.max_latency_p99_ms is not None
    if incumbent is None and not needs_latency:
        return evidence  # a first version: tests and size only, no data needed

    digest: str | None
    other: str | None
    if dataset is not None:
        digest = other = dataset.digest
    else:
        digest = candidate.details.get("evaluation_dataset")
        other = incumbent.details.get("evaluation_dataset") if incumbent else digest
    evidence = replace(evidence, dataset_digest=digest, incumbent_dataset_digest=other)
    if dataset is None and digest is not None and (incumbent is None or digest == other):
        dataset = _load_dataset(registry, digest)
    frame = dataset.to_pandas() if dataset is not None else None
    if dataset is not None:
        evidence = replace(evidence, dataset_name=dataset.name, n_rows=dataset.rows)

    model = registry.load(candidate.ref)
    if needs_latency:
        evidence = replace(
            evidence, latency_p99_ms=_latency_p99(registry, candidate, model, frame, latency_calls)
        )
    if incumbent is not None and frame is not None and digest == other:
        evidence = _compare(
            evidence, registry, candidate, incumbent, frame, policy, n_bootstrap, seed
        )
    return evidence


def _incumbent(registry: Registry, candidate: ModelVersion, alias: str) -> ModelVersion | None:
    if alias != CHAMPION:
        return None
    current = registry.store.aliases(candidate.name).get(CHAMPION)
    if current is None or current == candidate.version:
        return None
    return registry.get(f"{candidate.name}:{current}")


def _recorded_tests(version: ModelVersion) -> dict[str, bool]:
    recorded = version.details.get("tests") or {}
    return {
        str(suite): bool(entry.get("passed"))
        for suite, entry in recorded.items()
        if isinstance(entry, Mapping)
    }


def _load_dataset(registry: Registry, ref: str) -> Dataset:
    from shipyard.data import Dataset

    return Dataset.load(ref, registry.project)


def _compare(
    evidence: Evidence,
    registry: Registry,
    candidate: ModelVersion,
    incumbent: ModelVersion,
    frame: pd.DataFrame,
    policy: PromotionPolicy,
    n_bootstrap: int,
    seed: int,
) -> Evidence:
    from shipyard.evaluation.comparison import compare
    from shipyard.evaluation.evaluate import evaluate

    metric = policy.primary_metric
    evidence = replace(evidence, metric=metric)
    try:
        mine_model = registry.load(candidate.ref)
        target = _target(candidate, frame, mine_model.signature.input_names)
        options: dict[str, Any] = {
            "target": target,
            "task": candidate.details.get("task"),
            "dataset_digest": evidence.dataset_digest,
            "n_bootstrap": n_bootstrap,
            "seed": seed,
            "headline": metric,
            "measure": False,
            "top_k": 0,
        }
        mine = evaluate(mine_model, frame, **options)
        theirs = evaluate(
            registry.load(incumbent.ref),
            frame,
            **{**options, "target": incumbent.details.get("target", target)},
        )
        comparison = compare(mine, theirs, alpha=policy.alpha, champion_ref=incumbent.ref)
        delta = comparison.delta(metric)
    except EvaluationError as exc:
        return replace(evidence, note=str(exc))
    sign = 1.0 if policy.greater_is_better else -1.0
    improvement = sign * delta.delta
    bounds = [b * sign for b in (delta.low, delta.high) if b is not None]
    return replace(
        evidence,
        candidate_score=delta.candidate,
        incumbent_score=delta.champion,
        improvement=improvement,
        improvement_low=min(bounds) if len(bounds) == 2 else None,
        improvement_high=max(bounds) if len(bounds) == 2 else None,
        p_value=_one_sided(delta.p_value, improvement),
        test=delta.test,
        comparison={
            "verdict": comparison.verdict,
            "detail": comparison.verdict_detail,
            "deltas": [asdict(d) for d in comparison.deltas],
        },
    )


def _one_sided(two_sided: float | None, improvement: float) -> float | None:
    """P-value of "the candidate is better" from the comparison's two-sided one.

    The gate asks a one-sided question: a candidate significantly *worse* must not
    pass. The comparison's tests (paired t, McNemar, paired bootstrap) are symmetric,
    so the one-sided tail is half the two-sided p when the candidate is ahead.
    """
    if two_sided is None:
        return None
    half = two_sided / 2.0
    return half if improvement > 0 else 1.0 - half


def _target(version: ModelVersion, frame: pd.DataFrame, inputs: list[str]) -> str:
    """The version's label column: as registered, else the one column it does not read."""
    target = version.details.get("target")
    if target:
        return str(target)
    leftover = [str(c) for c in frame.columns if c not in inputs]
    if len(leftover) == 1:
        return leftover[0]
    raise EvaluationError(
        f"{version.ref} has no recorded target column and the evaluation data has "
        f"{len(leftover)} columns it does not read ({', '.join(leftover[:10])})",
        hint="register the bundle with target=COLUMN (or metadata={'target': ...} in build_bundle)",
    )


def _latency_p99(
    registry: Registry,
    version: ModelVersion,
    model: Any,
    frame: pd.DataFrame | None,
    calls: int,
) -> float:
    from shipyard.evaluation.operational import measure_operational

    names = model.signature.input_names
    if frame is None or not all(n in frame.columns for n in names):
        from shipyard.bundle import Bundle

        frame = Bundle.open(registry.bundle_path(version.ref)).input_example()
    rows = frame.loc[:, names]
    stats = measure_operational(
        model.predict_frame,  # the call the server makes
        rows,
        single_row_calls=calls,
        batch_rows=min(len(rows), 64),
        batch_calls=1,
        seed=0,
    )
    return stats.single_row_p99_ms
