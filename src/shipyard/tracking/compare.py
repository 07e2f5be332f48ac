"""Two runs side by side: parameters, metrics, datasets and code, differences marked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shipyard.store.runs import RunRecord

_MISSING = object()


@dataclass(frozen=True)
class Difference:
    section: str  # params | metrics | run
    key: str
    a: Any
    b: Any
    changed: bool
    delta: float | None = None  # b - a, for numbers


@dataclass(frozen=True)
class RunComparison:
    a: RunRecord
    b: RunRecord
    rows: tuple[Difference, ...]

    @property
    def changed(self) -> list[Difference]:
        return [r for r in self.rows if r.changed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a.id,
            "b": self.b.id,
            "rows": [
                {
                    "section": r.section,
                    "key": r.key,
                    "a": r.a,
                    "b": r.b,
                    "changed": r.changed,
                    "delta": r.delta,
                }
                for r in self.rows
            ],
        }


def compare_runs(a: RunRecord, b: RunRecord) -> RunComparison:
    """Every parameter and metric of either run, with what changed from ``a`` to ``b``."""
    rows: list[Difference] = []
    facts = {
        "pipeline": (a.pipeline, b.pipeline),
        "status": (a.status, b.status),
        "git_commit": (a.git_commit, b.git_commit),
        "git_dirty": (a.git_dirty, b.git_dirty),
        "datasets": (sorted(a.datasets), sorted(b.datasets)),
        "seconds": (a.seconds, b.seconds),
    }
    for key, (va, vb) in facts.items():
        rows.append(Difference("run", key, va, vb, va != vb and key != "seconds", _delta(va, vb)))
    for section, left, right in (("params", a.params, b.params), ("metrics", a.metrics, b.metrics)):
        for key in sorted(left.keys() | right.keys()):
            va, vb = left.get(key, None), right.get(key, None)
            changed = (key in left) != (key in right) or va != vb
            rows.append(Difference(section, key, va, vb, changed, _delta(va, vb)))
    return RunComparison(a, b, tuple(rows))


def _delta(a: Any, b: Any) -> float | None:
    if (
        isinstance(a, int | float)
        and isinstance(b, int | float)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    ):
        return float(b) - float(a)
    return None
