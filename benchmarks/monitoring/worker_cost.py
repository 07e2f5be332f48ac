"""The monitoring worker's cost per event, in process: what each served event costs it.

Builds the worker as ``shipyard serve`` starts it (``worker.open_worker``: metrics,
drift windows and checks, alerts, the SQLite store) for a project whose model has a
reference profile, encodes batches of events as the server does (``ProcessWriter.
encode``, values drawn from the reference distribution), then hands them to it one
batch at a time, as ``offload.main`` does: the collector off for the batch, then the
work that follows an answer (the drift checks). The first ``--warmup`` batches are not
counted. Prints the CPU time per event of the whole process (all its threads), for
the drift checks alone the time per window, and the server's side: the least CPU per
event that encoding a batch took (``ProcessWriter.encode``, on the request's thread).

    .venv/bin/python benchmarks/monitoring/worker_cost.py [--batches 30] [--warmup 10]
        [--events 1000] [--repeat 3] [--json]

CPU time moves with whatever else the machine does. Instruction counts do not:
``valgrind --tool=callgrind`` on two runs that differ only in ``--batches`` (same
``--warmup``), the difference of their totals divided by the events between them, is
the worker's instructions per event (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from events_load import RANGES, register_model


def encoded_batches(batches: int, events: int, seed: int = 1) -> tuple[list[bytes], float]:
    """Batches as the server's ProcessWriter sends them (a JSON array of encoded events),
    and the least CPU per event that encoding them took, in microseconds, over the
    batches: what each event costs the server's request thread at emit."""
    from shipyard.monitoring.offload import ProcessWriter
    from shipyard.serving.events import PredictionEvent

    rng = np.random.default_rng(seed)
    start = time.time()
    out = []
    encode_us = float("inf")
    for b in range(batches):
        made = []
        for i in range(events):
            k = b * events + i
            inputs = {
                n: rng.uniform(lo, hi, 1).astype(np.float32) for n, (lo, hi) in RANGES.items()
            }
            price = 20.0 * inputs["rooms"] + 1.5 * inputs["area"] - 0.3 * inputs["age"]
            made.append(PredictionEvent(
                f"{int(start * 1e6) + k:x}-{k:08x}", start + k * 1e-4, "housing", "housing", 1,
                "primary", inputs, {"predict": price}, 0.0012,
            ))  # fmt: skip
        started = time.thread_time()
        parts = [ProcessWriter.encode(event) for event in made]
        encode_us = min(encode_us, (time.thread_time() - started) / events * 1e6)
        out.append(b"[" + b",".join(parts) + b"]")
    return out, encode_us


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from shipyard.monitoring.worker import open_worker
    from shipyard.project import Project

    with tempfile.TemporaryDirectory() as root:
        subprocess.run(
            [sys.executable, "-m", "shipyard", "init", root], check=True, capture_output=True
        )
        register_model(root)
        worker = open_worker(Project.open(root).settings.model_dump_json())
        worker.open()
        payloads, encode_us = encoded_batches(args.warmup + args.batches, args.events)
        gc.freeze()
        checked: list[float] = []
        watcher = worker.watcher
        assert watcher is not None
        check = watcher._check

        def timed_check(*a: Any) -> None:
            started = time.thread_time()
            check(*a)
            checked.append(time.thread_time() - started)

        watcher._check = timed_check  # type: ignore[method-assign]
        cpu = 0.0
        for i, payload in enumerate(payloads):
            started = time.process_time()
            gc.disable()
            try:
                worker.write_json(payload)
            finally:
                gc.enable()
            worker.after_answer()
            if i >= args.warmup:
                cpu += time.process_time() - started
            else:
                checked.clear()
        worker.close()
    counted = args.batches * args.events
    return {
        "worker_us_per_event": cpu / counted * 1e6,
        "server_encode_us_per_event": encode_us,
        "check_ms_per_window": float(np.median(checked)) * 1e3 if checked else None,
        "windows": len(checked),
        "events": counted,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs = [measure(args) for _ in range(args.repeat)]
    if args.json:
        print(json.dumps(runs))
        return
    for run in runs:
        window = run["check_ms_per_window"]
        checks = (
            f"; drift check {window:.2f} ms per window ({run['windows']} windows)"
            if window is not None
            else ""
        )
        print(
            f"{run['events']:,} events: {run['worker_us_per_event']:.2f} us of CPU per event"
            f"{checks}; the server's encode {run['server_encode_us_per_event']:.2f} us"
        )


if __name__ == "__main__":
    main()
