"""Metric logging, Shipyard against MLflow, both on SQLite, side by side in one process.

Run it with ``make -C benchmarks tracking`` (it needs the venv that holds MLflow and
this checkout of Shipyard; the Makefile makes it). What is timed:

* **one call per value** — MLflow: ``mlflow.log_metric("loss", v, step=i)`` N times
  inside an active run; every call commits, so each value is durable when the call
  returns. Shipyard: a real ``@shipyard.step`` calling ``shipyard.log_metrics(loss=v,
  step=i)`` N times; values are durable when the step ends, so the clock runs from
  the step's start (its row committed) to the step's end (its closing transaction,
  with every value, committed).
* **batched** — MLflow: ``MlflowClient.log_batch(run_id, metrics=[1000 Metric])``,
  its maximum per call, B times. Shipyard: ``shipyard.log_metrics({1000 keys}, step=s)``
  B times in one step. The same 1000 keys at one step per call on both sides.

Both durability settings of Shipyard's SQLite are measured: ``synchronous=FULL``
(its default: fsync at every commit, as MLflow's SQLite store does with SQLite's
defaults) and ``NORMAL`` (a commit survives the process dying, the last commits may
be lost if the machine loses power). Every round checks that every value was
stored, by counting them through a new connection.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"


# ---------------------------------------------------------------- MLflow side
class MlflowSide:
    def __init__(self, root: Path) -> None:
        import mlflow
        from mlflow.tracking import MlflowClient

        self.mlflow = mlflow
        uri = f"sqlite:///{root / 'mlflow.db'}"
        mlflow.set_tracking_uri(uri)
        self.client = MlflowClient(uri)
        # the first call creates and migrates the database: not part of any timing
        mlflow.set_experiment("bench")
        with mlflow.start_run():
            mlflow.log_metric("warmup", 1.0)

    def per_value(self, n: int) -> float:
        mlflow = self.mlflow
        with mlflow.start_run() as run:
            t0 = time.perf_counter()
            for i in range(n):
                mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
            seconds = time.perf_counter() - t0
        stored = len(self.client.get_metric_history(run.info.run_id, "loss"))
        assert stored == n, f"MLflow stored {stored} of {n} values"
        return seconds

    def batched(self, calls: int, width: int) -> float:
        from mlflow.entities import Metric

        with self.mlflow.start_run() as run:
            run_id = run.info.run_id
            now = int(time.time() * 1000)
            batches = [
                [Metric(f"m{j:04d}", float(j + s), now, s) for j in range(width)]
                for s in range(calls)
            ]
            t0 = time.perf_counter()
            for batch in batches:
                self.client.log_batch(run_id, metrics=batch)
            seconds = time.perf_counter() - t0
        stored = len(self.client.get_metric_history(run_id, "m0000"))
        assert stored == calls, f"MLflow stored {stored} of {calls} values of m0000"
        return seconds


# ---------------------------------------------------------------- Shipyard side
import shipyard  # noqa: E402


@shipyard.step(cache=False)
def per_value_step(n: int) -> int:
    log = shipyard.log_metrics
    for i in range(n):
        log(loss=1.0 / (i + 1), step=i)
    return n


@shipyard.step(cache=False)
def batched_step(calls: int, width: int) -> int:
    keys = [f"m{j:04d}" for j in range(width)]
    for s in range(calls):
        shipyard.log_metrics({k: float(j + s) for j, k in enumerate(keys)}, step=s)
    return calls * width


@shipyard.pipeline
def per_value_pipeline(n: int = 1000) -> Any:
    return per_value_step(n=n)


@shipyard.pipeline
def batched_pipeline(calls: int = 10, width: int = 1000) -> Any:
    return batched_step(calls=calls, width=width)


class ShipyardSide:
    def __init__(self, root: Path, synchronous: str) -> None:
        from sqlalchemy import event

        from shipyard.project import Project
        from shipyard.store.runs import RunStore

        root.mkdir(parents=True, exist_ok=True)
        self.project = Project.open(root)
        db = self.project.db
        if synchronous != "FULL":  # FULL is Shipyard's default

            @event.listens_for(db.engine, "connect")
            def _sync(dbapi_conn: Any, _record: Any) -> None:
                dbapi_conn.execute(f"PRAGMA synchronous={synchronous}")

            db.engine.dispose()  # connections made from now on carry the pragma
        with db.engine.connect() as conn:
            level = conn.exec_driver_sql("PRAGMA synchronous").scalar()
        assert level == {"NORMAL": 1, "FULL": 2}[synchronous], level
        self.runs = RunStore(db)
        per_value_pipeline.run({"n": 10}, project=self.project)  # warm-up: imports, tables

    def _timed(self, pipe: Any, params: dict[str, Any], expected: int) -> tuple[float, float]:
        marks: dict[str, float] = {}

        def progress(event: Any) -> None:
            marks[event.status] = time.perf_counter()

        t0 = time.perf_counter()
        run = pipe.run(params, project=self.project, progress=progress)
        wall = time.perf_counter() - t0
        # durable: a fresh connection sees every value
        from shipyard.store.db import Database
        from shipyard.store.runs import RunStore

        fresh = Database(self.project.settings.store_url)
        stored = RunStore(fresh).count_metrics(run.id)
        fresh.dispose()
        assert stored == expected, f"Shipyard stored {stored} of {expected} values"
        return marks["succeeded"] - marks["started"], wall

    def per_value(self, n: int) -> tuple[float, float]:
        return self._timed(per_value_pipeline, {"n": n}, n)

    def batched(self, calls: int, width: int) -> tuple[float, float]:
        return self._timed(batched_pipeline, {"calls": calls, "width": width}, calls * width)


# ---------------------------------------------------------------- the run
def machine() -> dict[str, Any]:
    import mlflow
    import sqlalchemy

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_1min_at_start": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "mlflow": mlflow.__version__,
        "shipyard": shipyard.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "sqlite": __import__("sqlite3").sqlite_version,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--values", type=int, default=1000, help="N, values per run, one call each")
    parser.add_argument("--large", type=int, default=100_000, help="a larger N for Shipyard alone")
    parser.add_argument("--batches", type=int, default=50, help="B, log_batch calls per run")
    parser.add_argument("--width", type=int, default=1000, help="values per batch call")
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds; medians reported"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    info = machine()
    print(json.dumps(info, indent=2), flush=True)
    ml = MlflowSide(WORK / "mlflow")
    sides = {
        mode: ShipyardSide(WORK / f"shipyard-{mode.lower()}", mode) for mode in ("NORMAL", "FULL")
    }

    samples: dict[str, list[float]] = {}

    def record(name: str, seconds: float, values: int) -> None:
        samples.setdefault(name, []).append(values / seconds)
        print(f"  {name:<42} {values / seconds:>12,.0f} values/s  ({seconds:.3f} s)", flush=True)

    n, b, w = args.values, args.batches, args.width
    for r in range(args.rounds):
        print(f"round {r + 1}/{args.rounds}", flush=True)
        record("mlflow log_metric", ml.per_value(n), n)
        for mode, side in sides.items():
            step, wall = side.per_value(n)
            record(f"shipyard log_metrics per value, {mode}", step, n)
            record(f"shipyard per value, whole run, {mode}", wall, n)
        if args.large:  # Shipyard alone: is there a cost per value beyond the list append?
            step, _ = sides["FULL"].per_value(args.large)
            record(f"shipyard per value, N={args.large:,}, FULL", step, args.large)
        record("mlflow log_batch", ml.batched(b, w), b * w)
        for mode, side in sides.items():
            step, wall = side.batched(b, w)
            record(f"shipyard log_metrics batched, {mode}", step, b * w)
            record(f"shipyard batched, whole run, {mode}", wall, b * w)

    med = {name: statistics.median(rates) for name, rates in samples.items()}
    print("\nmedians (values/s) and ratios to MLflow")
    rows = []
    for name, rate in med.items():
        base = med["mlflow log_batch" if ("batch" in name) else "mlflow log_metric"]
        ratio = rate / base
        rows.append({"name": name, "values_per_s": rate, "ratio": ratio})
        print(f"  {name:<42} {rate:>12,.0f}   {ratio:7.1f}x")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": info,
                    "args": vars(args) | {"json": str(args.json)},
                    "rows": rows,
                    "samples": samples,
                },
                indent=2,
            )
        )
    print(f"\ncommand: {' '.join([Path(sys.executable).name, *sys.argv])}")


if __name__ == "__main__":
    main()
