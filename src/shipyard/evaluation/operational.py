"""Operational statistics of a model: latency, throughput, memory and size on disk.

Measured in this process, on this machine, with the rows of the evaluation dataset;
they say how the model behaves here, not on the serving host.
"""

from __future__ import annotations

import gc
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil


@dataclass(frozen=True)
class OperationalStats:
    """Latency, throughput, memory and size of one model, as measured here.

    Latencies are wall-clock milliseconds of one ``predict`` call; ``batch_*`` calls
    take ``batch_rows`` rows each. ``peak_traced_bytes`` is the largest amount of
    Python-tracked memory (tracemalloc, which numpy reports into) held during one
    batch call above what was held before it; ``process_peak_rss_bytes`` is the
    whole process's peak resident set so far (it includes everything else loaded).
    """

    single_row_calls: int
    single_row_p50_ms: float
    single_row_p99_ms: float
    batch_rows: int
    batch_calls: int
    batch_p50_ms: float
    batch_p99_ms: float
    throughput_rows_per_s: float
    peak_traced_bytes: int
    process_rss_bytes: int
    process_peak_rss_bytes: int
    model_size_bytes: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OperationalStats:
        return cls(**data)


def directory_size(path: str | Path) -> int:
    """Bytes of every regular file under ``path`` (or of ``path`` itself if a file)."""
    root = Path(path)
    if root.is_file():
        return root.stat().st_size
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def measure_operational(
    predict: Callable[[pd.DataFrame], Any],
    frame: pd.DataFrame,
    *,
    single_row_calls: int = 200,
    batch_rows: int = 1024,
    batch_calls: int = 5,
    model_path: str | Path | None = None,
    seed: int = 0,
    time_budget_s: float = 10.0,
) -> OperationalStats:
    """Time ``predict`` on single rows and on batches sampled from ``frame``.

    Each call is timed alone, after one untimed warm-up call, so p50 and p99 are
    per-call percentiles. Sampling is with a fixed ``seed``. A slow model stops
    early once ``time_budget_s`` is spent on one kind of call (at least 5 calls each).

    Args:
        predict: takes a DataFrame of input rows; its result is discarded.
        frame: the input rows (features only).
        model_path: the bundle directory or model file, for the size on disk.
    """
    if len(frame) == 0:
        raise ValueError("cannot measure latency on an empty frame; pass at least one row")
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(frame), size=max(single_row_calls, 1))
    singles = [frame.iloc[[int(i)]] for i in rows]
    predict(singles[0])  # warm-up: first-call caches, lazy imports
    single_ms = _time_calls(predict, singles, time_budget_s)

    n_batch = min(batch_rows, len(frame))
    batches = [
        frame.iloc[rng.choice(len(frame), size=n_batch, replace=False)]
        for _ in range(max(batch_calls, 1))
    ]
    predict(batches[0])
    batch_ms = _time_calls(predict, batches, time_budget_s)
    median_batch_s = float(np.median(batch_ms)) / 1000.0

    return OperationalStats(
        single_row_calls=len(single_ms),
        single_row_p50_ms=float(np.percentile(single_ms, 50)),
        single_row_p99_ms=float(np.percentile(single_ms, 99)),
        batch_rows=n_batch,
        batch_calls=len(batch_ms),
        batch_p50_ms=float(np.percentile(batch_ms, 50)),
        batch_p99_ms=float(np.percentile(batch_ms, 99)),
        throughput_rows_per_s=n_batch / median_batch_s if median_batch_s > 0 else float("inf"),
        peak_traced_bytes=_peak_traced_bytes(predict, batches[0]),
        process_rss_bytes=int(psutil.Process().memory_info().rss),
        process_peak_rss_bytes=_process_peak_rss_bytes(),
        model_size_bytes=directory_size(model_path) if model_path is not None else None,
    )


def _time_calls(
    predict: Callable[[pd.DataFrame], Any], inputs: list[pd.DataFrame], budget_s: float
) -> list[float]:
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    for x in inputs:
        start = time.perf_counter()
        predict(x)
        end = time.perf_counter()
        times.append((end - start) * 1000.0)
        if end > deadline and len(times) >= 5:
            break
    return times


def _peak_traced_bytes(predict: Callable[[pd.DataFrame], Any], batch: pd.DataFrame) -> int:
    # tracemalloc slows allocation, so it runs on its own call, never a timed one.
    gc.collect()
    already = tracemalloc.is_tracing()
    if not already:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        predict(batch)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not already:
            tracemalloc.stop()
    return max(int(peak - before), 0)


def _process_peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return int(peak if sys.platform == "darwin" else peak * 1024)
