"""Helpers for the rollout tests: a fake clock, an in-memory metrics source, tiny predictors."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shipyard.bundle.signature import Signature, TensorSpec
from shipyard.rollout.analysis import Observation
from shipyard.rollout.routing import Variant

HOUSING = Signature(
    inputs=(
        TensorSpec("rooms", "FP64", minimum=0, maximum=50),
        TensorSpec("area", "FP64", minimum=0, maximum=10_000),
        TensorSpec("region", "BYTES"),
    ),
    outputs=(TensorSpec("prediction", "FP64"),),
)
REGIONS = ("VN", "TH", "ID", "SG")


def variant(name: str, version: int, model: str = "housing") -> Variant:
    return Variant(name, f"{model}:{version}", model, version)


class Clock:
    """A settable unix clock."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@dataclass
class MemorySource:
    """A RolloutMetricsSource over observations held in a list."""

    rows: list[Observation] = field(default_factory=list)
    shadow_rows: list[Observation] = field(default_factory=list)
    truths: dict[str, float] = field(default_factory=dict)

    def observations(
        self, endpoint: str, *, since: float, until: float, shadow: bool = False
    ) -> list[Observation]:
        rows = self.shadow_rows if shadow else self.rows
        return [o for o in rows if since <= o.at < until]

    def outcomes(self, endpoint: str, kind: str, *, since: float, until: float) -> dict[str, float]:
        ids = {o.request_id for o in self.rows if since <= o.at < until}
        return {k: v for k, v in self.truths.items() if k in ids}


@dataclass(frozen=True)
class Behaviour:
    """How a simulated variant behaves: latency scale, error rate, output shift."""

    slow: float = 1.0
    error_rate: float = 0.0
    shift: float = 0.0
    segment_shift: Mapping[str, float] = field(default_factory=dict)


def traffic(
    rng: np.random.Generator,
    *,
    start: float,
    seconds: float,
    rate: float,
    canary_share: float,
    canary: Behaviour = Behaviour(),
    stable: Behaviour = Behaviour(),
    prefix: str = "r",
    truth: dict[str, float] | None = None,
) -> list[Observation]:
    """Requests over ``seconds`` at ``rate``/s, split stable/canary, each side behaving as told."""
    n = int(seconds * rate)
    out = []
    for i in range(n):
        is_canary = rng.random() < canary_share
        b = canary if is_canary else stable
        region = str(rng.choice(REGIONS))
        area = float(rng.uniform(30, 300))
        y = 1.5 * area + rng.normal(0, 5)
        pred = y + rng.normal(0, 5) + b.shift + b.segment_shift.get(region, 0.0)
        failed = rng.random() < b.error_rate
        rid = f"{prefix}-{start:.0f}-{i}"
        out.append(
            Observation(
                request_id=rid,
                at=start + i / rate,
                variant="canary" if is_canary else "stable",
                latency_ms=float(rng.gamma(4.0, 0.5) * b.slow),
                status=500 if failed else 200,
                key=f"user-{rng.integers(0, 500)}",
                outputs={} if failed else {"prediction": [pred]},
                inputs={"area": [area], "region": [region], "rooms": [3.0]},
            )
        )
        if truth is not None and not failed:
            truth[rid] = y
    return out


class LinearHousing:
    """price = 1.5 * area + 10 * rooms (+ shift); may sleep, fail, or hang (for ``hang_s``, or
    until ``hang_until`` is set)."""

    signature = HOUSING

    def __init__(
        self,
        *,
        shift: float = 0.0,
        delay_s: float = 0.0,
        fail: bool = False,
        hang_s: float = 0.0,
        hang_until: threading.Event | None = None,
    ) -> None:
        self.shift = shift
        self.delay_s = delay_s
        self.fail = fail
        self.hang_s = hang_s
        self.hang_until = hang_until
        self.calls = 0
        self._lock = threading.Lock()

    def predict(self, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self._lock:
            self.calls += 1
        if self.hang_s:
            time.sleep(self.hang_s)
        if self.hang_until is not None:
            self.hang_until.wait(60)
        if self.fail:
            raise RuntimeError("this model version is broken")
        if self.delay_s:
            time.sleep(self.delay_s)
        area = np.asarray(columns["area"], dtype=float)
        rooms = np.asarray(columns["rooms"], dtype=float)
        return {"prediction": 1.5 * area + 10 * rooms + self.shift}


def rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "rooms": float(rng.integers(1, 8)),
            "area": float(rng.uniform(30, 300)),
            "region": str(rng.choice(REGIONS)),
        }
        for _ in range(n)
    ]


def oip_body(row: Mapping[str, Any], parameters: Mapping[str, Any] | None = None) -> dict[str, Any]:
    types = {"rooms": "FP64", "area": "FP64", "region": "BYTES"}
    body: dict[str, Any] = {
        "inputs": [
            {"name": k, "shape": [1], "datatype": types[k], "data": [v]} for k, v in row.items()
        ]
    }
    if parameters:
        body["parameters"] = dict(parameters)
    return body


def shares(counts: Mapping[str, int], names: Sequence[str]) -> list[int]:
    return [int(counts.get(n, 0)) for n in names]


def _marking(model: LinearHousing, marker: str | None) -> LinearHousing:
    """Make ``model`` touch the file ``marker`` when first asked to predict."""
    if marker:
        inner = model.predict

        def predict(columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            open(marker, "a").close()  # a marker the test process can see
            return inner(columns)

        model.predict = predict  # type: ignore[method-assign]
    return model


def broken_shadow_source(settings: Any) -> Any:
    """A ModelSource for a server in a subprocess: housing:1 good, housing:2 broken.

    ``ROLLOUT_TEST_SHADOW`` is ``failing`` or ``hanging``; ``ROLLOUT_TEST_MARKER`` a
    file the broken version touches when it is called.
    """
    import os

    from shipyard.serving import InMemorySource

    kind = os.environ.get("ROLLOUT_TEST_SHADOW", "failing")
    broken = LinearHousing(fail=True) if kind == "failing" else LinearHousing(hang_s=120.0)
    broken = _marking(broken, os.environ.get("ROLLOUT_TEST_MARKER"))
    return InMemorySource({"housing": {1: LinearHousing(), 2: broken}})
