"""Helpers for the monitoring tests: prediction events, a reference frame, controllable writers."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shipyard.monitoring.events import Row, SinkUnavailable


@dataclass(frozen=True)
class Event:
    """Shaped like shipyard.serving.PredictionEvent."""

    request_id: str
    time: float
    endpoint: str
    model_name: str
    model_version: int
    variant: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    latency_s: float
    shadow: bool = False


def make_event(
    i: int = 0,
    *,
    endpoint: str = "housing",
    request_id: str | None = None,
    at: float | None = None,
    area: float | None = None,
    version: int = 1,
    shadow: bool = False,
    variant: str = "default",
) -> Event:
    rng = np.random.default_rng(i)
    a = float(rng.uniform(30, 300)) if area is None else area
    return Event(
        request_id=request_id or uuid.uuid4().hex,
        time=time.time() if at is None else at,
        endpoint=endpoint,
        model_name="housing",
        model_version=version,
        variant=variant,
        inputs={
            "rooms": np.array([float(rng.uniform(1, 8))], dtype=np.float32),
            "area": np.array([a], dtype=np.float32),
            "region": np.array([rng.choice(["north", "south", "east"])], dtype=object),
        },
        outputs={"prediction": np.array([1.5 * a], dtype=np.float32)},
        latency_s=0.002,
        shadow=shadow,
    )


def wire(events: Sequence[Any]) -> bytes:
    """A batch as the server sends it to the monitoring worker: each event encoded at emit
    (``ProcessWriter.encode``), end to end in one JSON array (``EncodedBatch``)."""
    from shipyard.monitoring.encoded import EncodedBatch
    from shipyard.monitoring.offload import ProcessWriter

    batch = EncodedBatch()
    for event in events:
        batch.add(ProcessWriter.encode(event))
    return batch.json()


def reference_frame(n: int = 5000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "rooms": rng.uniform(1, 8, n),
            "area": rng.uniform(30, 300, n),
            "region": rng.choice(["north", "south", "east"], n),
        }
    )


@dataclass
class MemoryWriter:
    """A BatchWriter in memory: can be slow, down, or refuse chosen rows."""

    name: str = "memory"
    batch_rows: int | None = None
    delay_s: float = 0.0
    down: bool = False
    refuse: set[str] = field(default_factory=set)
    rows: list[Row] = field(default_factory=list)
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self) -> None:
        if self.down:
            raise SinkUnavailable(self.name, "down (test)")

    def write(self, rows: Sequence[Row]) -> int:
        self.calls += 1
        if self.down:
            raise SinkUnavailable(self.name, "down (test)")
        if any(r["request_id"] in self.refuse for r in rows):
            raise ValueError("refused row (test)")
        if self.delay_s:
            time.sleep(self.delay_s)
        with self.lock:
            seen = {r["request_id"] for r in self.rows}
            new = [r for r in rows if r["request_id"] not in seen]
            self.rows.extend(new)
        return len(new)

    def close(self) -> None:
        return None
