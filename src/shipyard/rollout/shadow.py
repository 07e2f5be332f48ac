"""The shadow report: how a mirrored version's predictions compare with the primary's.

Each shadow prediction is stored beside its request (``<request id>~<variant>``,
``shipyard.store.events.event_id``) and joined here to the primary's answer. For
labels (text, integer classes, or class scores taken by argmax) the report gives the
agreement rate; for numbers, the distribution of ``shadow - primary``. It also gives
each side's latency and errors, and the requests where they disagree most, with
their inputs, to read by hand.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shipyard.rollout.analysis import Observation

TOP = 10


@dataclass(frozen=True)
class SideSummary:
    """Requests, errors and latency of one side (the primary or one shadow)."""

    variant: str
    requests: int
    errors: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None


@dataclass(frozen=True)
class ShadowComparison:
    """One shadow against the primary, over the requests both answered."""

    variant: str
    output: str | None
    task: str  # "classification" | "regression" | "none"
    paired: int
    agreement: float | None = None
    difference: Mapping[str, float] | None = None
    disagreements: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class ShadowReport:
    endpoint: str
    primary: SideSummary
    shadows: tuple[SideSummary, ...]
    comparisons: tuple[ShadowComparison, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)


def shadow_report(
    endpoint: str,
    served: Sequence[Observation],
    mirrored: Sequence[Observation],
    *,
    primary: str = "primary",
    output: str | None = None,
    top: int = TOP,
) -> ShadowReport:
    """Compare each shadow variant's mirrored predictions with the primary's answers."""
    prim = [o for o in served if o.variant == primary]
    by_id = {o.request_id: o for o in prim}
    names = sorted({o.variant for o in mirrored})
    notes = []
    if not prim:
        notes.append(f"no requests answered by {primary!r} in the window")
    summaries, comparisons = [], []
    for name in names:
        side = [o for o in mirrored if o.variant == name]
        summaries.append(_side(name, side))
        pairs = []
        for o in side:
            base = by_id.get(_request_of(o.request_id, name))
            if base is not None and o.ok and base.ok:
                pairs.append((base, o))
        comparisons.append(_compare(name, pairs, output, top))
    return ShadowReport(
        endpoint, _side(primary, prim), tuple(summaries), tuple(comparisons), tuple(notes)
    )


def _request_of(stored_id: str, variant: str) -> str:
    suffix = f"~{variant}"
    return stored_id[: -len(suffix)] if stored_id.endswith(suffix) else stored_id


def _side(name: str, obs: Sequence[Observation]) -> SideSummary:
    lat = np.array([o.latency_ms for o in obs if o.ok], dtype=float)
    return SideSummary(
        name,
        len(obs),
        sum(not o.ok for o in obs),
        float(np.median(lat)) if lat.size else None,
        float(np.quantile(lat, 0.99)) if lat.size else None,
    )


def _compare(
    name: str, pairs: Sequence[tuple[Observation, Observation]], output: str | None, top: int
) -> ShadowComparison:
    if not pairs:
        return ShadowComparison(name, output, "none", 0)
    out = output or next(iter(pairs[0][0].outputs), None)
    if out is None:
        return ShadowComparison(name, None, "none", len(pairs))
    rows = []
    for base, shadow in pairs:
        a, b = _rows(base.outputs.get(out)), _rows(shadow.outputs.get(out))
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            rows.append((base, i, x, y))
    if not rows:
        return ShadowComparison(name, out, "none", len(pairs))
    labels = any(isinstance(x, str | list | int) for _, _, x, _ in rows)  # bool is an int
    if labels:
        agree = [_label(x) == _label(y) for _, _, x, y in rows]
        # disagreements first; among them, the most confident primary answer first
        order = sorted(range(len(rows)), key=lambda k: (agree[k], -_confidence(rows[k][2])))
        worst = [_example(rows[k]) for k in order[:top] if not agree[k]]
        return ShadowComparison(
            name, out, "classification", len(pairs), agreement=float(np.mean(agree)),
            disagreements=tuple(worst),
        )  # fmt: skip
    diff = np.array([float(y) - float(x) for _, _, x, y in rows])
    absd = np.abs(diff)
    primary = np.array([float(x) for _, _, x, _ in rows])
    corr = (
        float(np.corrcoef(primary, primary + diff)[0, 1])
        if diff.size > 1 and np.std(diff + primary) > 0 and np.std(primary) > 0
        else None
    )
    stats = {
        "n": float(diff.size), "mean": float(diff.mean()), "std": float(diff.std()),
        "mean_abs": float(absd.mean()), "p50_abs": float(np.quantile(absd, 0.5)),
        "p90_abs": float(np.quantile(absd, 0.9)), "p99_abs": float(np.quantile(absd, 0.99)),
        "max_abs": float(absd.max()), "correlation": corr if corr is not None else math.nan,
    }  # fmt: skip
    worst = [_example(rows[int(k)]) for k in np.argsort(-absd, kind="stable")[:top]]
    return ShadowComparison(
        name, out, "regression", len(pairs), difference=stats, disagreements=tuple(worst)
    )


def _rows(values: Any) -> list[Any]:
    if values is None:
        return []
    return list(values) if isinstance(values, list | tuple) else [values]


def _label(value: Any) -> Any:
    if isinstance(value, list):
        return int(np.argmax(np.asarray(value, dtype=float)))
    return value


def _confidence(value: Any) -> float:
    if isinstance(value, list) and value:
        return float(np.max(np.asarray(value, dtype=float)))
    return 0.0


def _example(row: tuple[Observation, int, Any, Any]) -> dict[str, Any]:
    base, i, x, y = row
    inputs = {
        k: (v[i] if isinstance(v, list) and i < len(v) else v) for k, v in base.inputs.items()
    }
    return {"request_id": base.request_id, "row": i, "primary": x, "shadow": y, "inputs": inputs}


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {k: _plain(getattr(value, k)) for k in value.__dataclass_fields__}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
