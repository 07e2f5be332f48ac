"""RunStore: one contract on SQLite and on the PostgreSQL at 127.0.0.1:5432."""

from __future__ import annotations

import math
import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from shipyard.errors import NotFoundError, StoreError
from shipyard.store.db import Database
from shipyard.store.runs import ArtifactRecord, Metric, RunStore
from shipyard.store.schema import ArtifactRow, LineageRow, MetricRow, ParamRow, StepRunRow

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
D1, D2, D3 = ("1" * 64, "2" * 64, "3" * 64)


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shipyard.db'}"
    return str(request.getfixturevalue("pg_store_url"))


@pytest.fixture
def runs(url: str) -> Iterator[RunStore]:
    db = Database(url)
    yield RunStore(db)
    db.dispose()


def new_run(
    runs: RunStore, run_id: str = "run00001", pipeline: str = "housing", **params: Any
) -> str:
    runs.create_run(
        run_id,
        pipeline,
        git_commit="abc123",
        git_dirty=False,
        environment={"python": "3.11", "packages": {"numpy": "2.0"}},
        config={"store": ".shipyard/shipyard.db"},
        params=params,
    )
    return run_id


def metrics(key: str, values: list[float], start: int = 0) -> list[Metric]:
    return [Metric(key, v, start + i, time.time()) for i, v in enumerate(values)]


def rows(runs: RunStore, table: type, run_id: str) -> int:
    with runs.db.read() as s:
        return int(
            s.scalar(select(func.count()).select_from(table).where(table.run_id == run_id)) or 0
        )


# ---------------------------------------------------------------- runs
def test_a_created_run_reads_back_with_everything_recorded(runs: RunStore) -> None:
    new_run(
        runs, rows=5000, alpha=0.5, name="ridge", tags=["a", "b"], nested={"k": [1, None, True]}
    )
    record = runs.get("run00001")
    assert record.pipeline == "housing"
    assert record.status == "running"
    assert record.ended_at is None and record.seconds is None
    assert record.git_commit == "abc123" and record.git_dirty is False
    assert record.environment == {"python": "3.11", "packages": {"numpy": "2.0"}}
    assert record.config == {"store": ".shipyard/shipyard.db"}
    assert record.params == {
        "rows": 5000,
        "alpha": 0.5,
        "name": "ridge",
        "tags": ["a", "b"],
        "nested": {"k": [1, None, True]},
    }
    assert record.to_dict()["started_at"].endswith("+00:00")


def test_finishing_a_run_records_status_time_error_and_details(runs: RunStore) -> None:
    new_run(runs)
    runs.finish_run("run00001", "failed", error="boom", details={"cached": ["load"]})
    runs.finish_run("run00001", "failed", details={"steps": ["load", "train"]})
    record = runs.get("run00001")
    assert record.status == "failed"
    assert record.error is None  # the second call said no error
    assert record.details == {"cached": ["load"], "steps": ["load", "train"]}
    assert record.seconds is not None and record.seconds >= 0


def test_finishing_an_unknown_run_is_not_found(runs: RunStore) -> None:
    with pytest.raises(NotFoundError):
        runs.finish_run("nope", "succeeded")


def test_runs_are_listed_newest_first_and_filtered(runs: RunStore) -> None:
    for i in range(5):
        new_run(runs, f"run{i:05d}", pipeline="a" if i % 2 else "b")
        time.sleep(0.002)
    assert [r.id for r in runs.list()] == [f"run{i:05d}" for i in reversed(range(5))]
    assert [r.id for r in runs.list(pipeline="a")] == ["run00003", "run00001"]
    assert len(runs.list(limit=2)) == 2
    assert runs.list()[0].steps == ()  # listings stay light


def test_deleting_a_run_removes_everything_it_recorded(runs: RunStore) -> None:
    new_run(runs, "keep0001")
    new_run(runs, "drop0001", seed=1)
    step = runs.start_step("drop0001", "train", "f" * 64)
    runs.finish_step(
        step,
        status="succeeded",
        output_digest=D1,
        output_format="json",
        metrics=metrics("loss", [1.0, 0.5]),
        params={"alpha": 1},
        artifacts=[ArtifactRecord("plot.png", D2, 10, "train", "image/png")],
        reads=[(D3, "dataset")],
    )
    runs.delete_run("drop0001")
    for table in (MetricRow, ParamRow, ArtifactRow, LineageRow, StepRunRow):
        assert rows(runs, table, "drop0001") == 0, table.__tablename__
    with pytest.raises(NotFoundError):
        runs.get("drop0001")
    assert runs.get("keep0001").id == "keep0001"


# ---------------------------------------------------------------- resolving ids
def test_a_run_resolves_by_id_or_unique_prefix(runs: RunStore) -> None:
    new_run(runs, "a1b2c3d4e5f6")
    new_run(runs, "a1b2ffffffff")
    assert runs.resolve("a1b2c3d4e5f6") == "a1b2c3d4e5f6"
    assert runs.resolve("a1b2c") == "a1b2c3d4e5f6"
    assert runs.get("a1b2f").id == "a1b2ffffffff"


def test_an_ambiguous_prefix_names_the_candidates(runs: RunStore) -> None:
    new_run(runs, "a1b2c3d4e5f6")
    new_run(runs, "a1b2ffffffff")
    with pytest.raises(StoreError, match="several runs") as info:
        runs.resolve("a1b2")
    assert "a1b2c3d4e5f6" in str(info.value) and "a1b2ffffffff" in str(info.value)


@pytest.mark.parametrize(
    "ref", ["a1b", "zzzz", "a1b2c3d4e5f6x", "a1b_", "a1b%", "%%%%", "____", ""]
)
def test_unknown_short_or_wildcard_refs_are_not_found(runs: RunStore, ref: str) -> None:
    new_run(runs, "a1b2c3d4e5f6")
    with pytest.raises(NotFoundError):
        runs.resolve(ref)


# ---------------------------------------------------------------- steps and logging
def test_finish_step_writes_status_params_metrics_artifacts_and_lineage(runs: RunStore) -> None:
    new_run(runs)
    step = runs.start_step("run00001", "train", "f" * 64)
    running = runs.get("run00001").steps
    assert [(s.step, s.status) for s in running] == [("train", "running")]

    runs.finish_step(
        step,
        status="succeeded",
        output_digest=D1,
        output_format="skops",
        params={"alpha": 0.5, "solver": "auto"},
        metrics=metrics("loss", [3.0, 2.0, 1.0]) + metrics("rmse", [9.5]),
        artifacts=[ArtifactRecord("plots/residuals.png", D2, 1234, "train", "image/png")],
        reads=[(D3, "dataset")],
        details={"rows": 5000},
    )
    record = runs.get("run00001")
    (s,) = record.steps
    assert (s.step, s.status, s.output_digest, s.output_format) == (
        "train",
        "succeeded",
        D1,
        "skops",
    )
    assert s.details["rows"] == 5000 and s.details["params"] == ["alpha", "solver"]
    assert s.seconds is not None and s.seconds >= 0
    assert record.params == {"alpha": 0.5, "solver": "auto"}
    assert record.metrics == {"loss": 1.0, "rmse": 9.5}
    assert record.artifacts == (
        ArtifactRecord("plots/residuals.png", D2, 1234, "train", "image/png"),
    )
    assert record.datasets == (D3,)
    with runs.db.read() as session:
        lineage = {(r.digest, r.kind, r.direction) for r in session.scalars(select(LineageRow))}
    assert lineage == {(D3, "dataset", "read"), (D1, "output", "write"), (D2, "artifact", "write")}


def test_metric_history_is_ordered_by_step_and_last_step_wins(runs: RunStore) -> None:
    new_run(runs)
    # logged out of order: the value at the highest step is the metric's value
    runs.log_metrics("run00001", [Metric("loss", 0.1, 9, 1.0), Metric("loss", 0.9, 0, 2.0)])
    runs.log_metrics("run00001", [Metric("loss", 0.5, 4, 3.0)])
    assert [(m.step, m.value) for m in runs.metric_history("run00001", "loss")] == [
        (0, 0.9),
        (4, 0.5),
        (9, 0.1),
    ]
    assert runs.get("run00001").metrics == {"loss": 0.1}
    assert runs.count_metrics("run00001") == 3


def test_metric_values_keep_full_precision(runs: RunStore) -> None:
    new_run(runs)
    values = [math.pi, 1e-300, -1e300, 0.1 + 0.2, 2.0**53 + 1, -0.0]
    runs.log_metrics("run00001", metrics("x", values))
    assert [m.value for m in runs.metric_history("run00001", "x")] == [float(v) for v in values]


def test_logging_a_parameter_again_replaces_it(runs: RunStore) -> None:
    new_run(runs, alpha=1.0)
    runs.log_params("run00001", {"alpha": 2.0, "beta": "x"})
    runs.log_params("run00001", {"alpha": 3.0})
    assert runs.get("run00001").params == {"alpha": 3.0, "beta": "x"}


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_metrics_are_refused_alike_on_every_backend(runs: RunStore, bad: float) -> None:
    new_run(runs)
    with pytest.raises(StoreError, match="finite"):
        runs.log_metrics("run00001", metrics("loss", [1.0, bad, 2.0]))
    assert runs.count_metrics("run00001") == 0


# ---------------------------------------------------------------- all or nothing
def _failing_writes() -> list[Any]:
    return [
        pytest.param({"params": {"model": object()}}, id="unserialisable-param"),
        pytest.param({"metrics": metrics("loss", [1.0, math.nan])}, id="nan-metric"),
        # the lineage insert comes last: everything before it must be undone too
        pytest.param({"reads": [(None, "dataset")]}, id="bad-lineage-row"),
        pytest.param(
            {"artifacts": [ArtifactRecord(None, D2, 1, "train", None)]}, id="bad-artifact-row"
        ),  # type: ignore[arg-type]
    ]


@pytest.mark.parametrize("failure", _failing_writes())
def test_a_failure_inside_finish_step_leaves_nothing_half_written(
    runs: RunStore, failure: dict[str, Any]
) -> None:
    new_run(runs)
    step = runs.start_step("run00001", "train", "f" * 64)
    good: dict[str, Any] = {
        "params": {"alpha": 0.5},
        "metrics": metrics("loss", [float(i) for i in range(500)]),
        "artifacts": [ArtifactRecord("a.txt", D2, 3, "train", "text/plain")],
        "reads": [(D3, "dataset")],
    }
    with pytest.raises(StoreError):
        runs.finish_step(
            step, status="succeeded", output_digest=D1, output_format="json", **{**good, **failure}
        )
    record = runs.get("run00001")
    assert [(s.status, s.output_digest, s.ended_at) for s in record.steps] == [
        ("running", None, None)
    ]
    assert record.params == {} and record.metrics == {} and record.artifacts == ()
    assert rows(runs, LineageRow, "run00001") == 0
    assert runs.count_metrics("run00001") == 0
    # and the store is still usable: the retry lands whole
    runs.finish_step(step, status="succeeded", output_digest=D1, output_format="json", **good)
    assert runs.count_metrics("run00001") == 500
    assert runs.get("run00001").steps[0].status == "succeeded"


# ---------------------------------------------------------------- the cache
def test_find_cached_returns_the_newest_successful_step(runs: RunStore) -> None:
    fp = "c" * 64
    assert runs.find_cached(fp) is None
    for run_id, status, digest in [
        ("old00001", "succeeded", D1),
        ("new00001", "succeeded", D2),
        ("bad00001", "failed", None),
        ("run00002", "running", None),
    ]:
        new_run(runs, run_id)
        sid = runs.start_step(run_id, "train", fp)
        if status != "running":
            runs.finish_step(sid, status=status, output_digest=digest, output_format="json")
    hit = runs.find_cached(fp)
    assert hit is not None
    record, source_run = hit
    assert (source_run, record.output_digest, record.status) == ("new00001", D2, "succeeded")
    assert runs.find_cached("d" * 64) is None


def test_a_cached_step_carries_over_what_its_source_logged(runs: RunStore) -> None:
    fp = "c" * 64
    new_run(runs, "source01")
    sid = runs.start_step("source01", "train", fp)
    runs.finish_step(
        sid,
        status="succeeded",
        output_digest=D1,
        output_format="skops",
        params={"alpha": 0.5},
        metrics=metrics("loss", [2.0, 1.0]),
        artifacts=[ArtifactRecord("plot.png", D2, 5, "train", "image/png")],
    )
    other = runs.start_step("source01", "evaluate", "e" * 64)
    runs.finish_step(
        other,
        status="succeeded",
        output_digest=D3,
        output_format="json",
        params={"threshold": 0.1},
        metrics=metrics("rmse", [7.0]),
    )

    new_run(runs, "rerun001")
    record, source_run = runs.find_cached(fp)  # type: ignore[misc]
    runs.record_cached_step("rerun001", "train", record, source_run)
    rerun = runs.get("rerun001")
    (step,) = rerun.steps
    assert (step.status, step.output_digest, step.fingerprint) == ("cached", D1, fp)
    assert step.details["cached_from"] == "source01"
    assert rerun.params == {"alpha": 0.5}  # not the other step's threshold
    assert rerun.metrics == {"loss": 1.0}
    assert [m.value for m in runs.metric_history("rerun001", "loss")] == [2.0, 1.0]
    assert [(a.name, a.digest) for a in rerun.artifacts] == [("plot.png", D2)]
    # a cached rerun is itself a cache source for the run after it only by its origin
    assert runs.find_cached(fp)[1] == "source01"  # type: ignore[index]


# ---------------------------------------------------------------- many processes
WORKERS, PER_WORKER, BATCH, IN_FINISH = 4, 2_000, 10, 500


def _log_from_process(url: str, run_id: str, worker: int, barrier: Any) -> None:
    runs = RunStore(Database(url))
    barrier.wait(60)
    key = f"w{worker}"
    step = runs.start_step(run_id, key, f"{worker:064d}")
    for start in range(0, PER_WORKER - IN_FINISH, BATCH):  # 150 transactions of 10
        runs.log_metrics(
            run_id,
            metrics(key, [worker + i / 1e4 for i in range(start, start + BATCH)], start),
            step=key,
        )
        if start % (10 * BATCH) == 0:  # the same key from every process, too
            runs.log_params(run_id, {f"{key}.last": start, "shared": worker})
    tail = range(PER_WORKER - IN_FINISH, PER_WORKER)
    runs.finish_step(
        step,
        status="succeeded",
        output_digest=f"{worker:064d}",
        output_format="json",
        params={f"{key}.done": True},
        metrics=metrics(key, [worker + i / 1e4 for i in tail], tail.start),
    )
    runs.db.dispose()


@pytest.mark.slow
def test_four_processes_logging_at_once_lose_nothing(url: str) -> None:
    db = Database(url)
    runs = RunStore(db)
    new_run(runs, "shared01")
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    procs = [
        ctx.Process(target=_log_from_process, args=(url, "shared01", w, barrier))
        for w in range(WORKERS)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * WORKERS

    assert runs.count_metrics("shared01") == WORKERS * PER_WORKER
    for w in range(WORKERS):
        history = runs.metric_history("shared01", f"w{w}")
        assert [m.step for m in history] == list(range(PER_WORKER))
        assert [m.value for m in history] == [w + i / 1e4 for i in range(PER_WORKER)]
    record = runs.get("shared01")
    assert sorted((s.step, s.status) for s in record.steps) == [
        (f"w{w}", "succeeded") for w in range(WORKERS)
    ]
    for w in range(WORKERS):
        assert record.params[f"w{w}.last"] == PER_WORKER - IN_FINISH - 10 * BATCH
        assert record.params[f"w{w}.done"] is True
    assert record.params["shared"] in range(WORKERS)
    db.dispose()
