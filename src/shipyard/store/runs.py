"""Runs, their steps, parameters, metrics, artifacts and lineage, persisted.

``RunStore`` is the only writer of these tables. Reads return frozen dataclasses; the
ORM rows stay inside this module.
"""

from __future__ import annotations

import builtins
import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select

from shipyard.errors import NotFoundError, StoreError
from shipyard.store.db import Database
from shipyard.store.schema import (
    ArtifactRow,
    LineageRow,
    MetricRow,
    ParamRow,
    RunRow,
    StepRunRow,
)


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Metric:
    key: str
    value: float
    step: int
    timestamp: float


@dataclass(frozen=True)
class ArtifactRecord:
    name: str
    digest: str
    size: int
    step: str | None
    media_type: str | None


@dataclass(frozen=True)
class StepRecord:
    step: str
    status: str  # succeeded | cached | failed | running
    fingerprint: str
    started_at: datetime
    ended_at: datetime | None
    output_digest: str | None
    output_format: str | None
    error: str | None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float | None:
        if self.ended_at is None:
            return None
        return (_aware(self.ended_at) - _aware(self.started_at)).total_seconds()


@dataclass(frozen=True)
class RunRecord:
    """One pipeline run as stored: everything `runs show` and `runs compare` print."""

    id: str
    pipeline: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    git_commit: str | None
    git_dirty: bool | None
    environment: dict[str, Any]
    config: dict[str, Any]
    error: str | None
    details: dict[str, Any]
    params: dict[str, Any]
    metrics: dict[str, float]  # the last value of each metric
    steps: tuple[StepRecord, ...] = ()
    artifacts: tuple[ArtifactRecord, ...] = ()
    datasets: tuple[str, ...] = ()

    @property
    def seconds(self) -> float | None:
        if self.ended_at is None:
            return None
        return (_aware(self.ended_at) - _aware(self.started_at)).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pipeline": self.pipeline,
            "status": self.status,
            "started_at": _aware(self.started_at).isoformat(),
            "ended_at": _aware(self.ended_at).isoformat() if self.ended_at else None,
            "seconds": self.seconds,
            "git_commit": self.git_commit,
            "git_dirty": self.git_dirty,
            "params": self.params,
            "metrics": self.metrics,
            "datasets": list(self.datasets),
            "steps": [
                {
                    "step": s.step,
                    "status": s.status,
                    "fingerprint": s.fingerprint,
                    "seconds": s.seconds,
                    "output_digest": s.output_digest,
                    "error": s.error,
                }
                for s in self.steps
            ],
            "artifacts": [
                {"name": a.name, "digest": a.digest, "size": a.size, "step": a.step}
                for a in self.artifacts
            ],
            "environment": self.environment,
            "config": self.config,
            "error": self.error,
            "details": self.details,
        }


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class RunStore:
    """Persists runs and everything recorded inside them."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------ runs
    def create_run(
        self,
        run_id: str,
        pipeline: str,
        *,
        git_commit: str | None,
        git_dirty: bool | None,
        environment: Mapping[str, Any],
        config: Mapping[str, Any],
        params: Mapping[str, Any],
    ) -> None:
        with self.db.transaction() as s:
            s.add(
                RunRow(
                    id=run_id,
                    pipeline=pipeline,
                    status="running",
                    started_at=now(),
                    git_commit=git_commit,
                    git_dirty=git_dirty,
                    environment=dict(environment),
                    config=dict(config),
                    details={},
                )
            )
            s.flush()
            _upsert_params(s, run_id, None, params)

    def finish_run(
        self,
        run_id: str,
        status: str,
        *,
        error: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        with self.db.transaction() as s:
            row = s.get(RunRow, run_id)
            if row is None:
                raise NotFoundError("run", run_id)
            row.status = status
            row.ended_at = now()
            row.error = error
            if details:
                row.details = {**(row.details or {}), **details}

    # ------------------------------------------------------------ steps
    def start_step(self, run_id: str, step: str, fingerprint: str) -> int:
        with self.db.transaction() as s:
            row = StepRunRow(
                run_id=run_id,
                step=step,
                fingerprint=fingerprint,
                status="running",
                started_at=now(),
                details={},
            )
            s.add(row)
            s.flush()
            return int(row.id)

    def finish_step(
        self,
        step_run_id: int,
        *,
        status: str,
        output_digest: str | None = None,
        output_format: str | None = None,
        error: str | None = None,
        params: Mapping[str, Any] | None = None,
        metrics: Sequence[Metric] = (),
        artifacts: Sequence[ArtifactRecord] = (),
        reads: Iterable[tuple[str, str]] = (),
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Close a step and write what it logged, all in one transaction.

        ``reads`` are (digest, kind) pairs the step consumed; its output and
        artifacts are recorded as writes.
        """
        with self.db.transaction() as s:
            row = s.get(StepRunRow, step_run_id)
            if row is None:
                raise NotFoundError("step run", str(step_run_id))
            row.status = status
            row.ended_at = now()
            row.output_digest = output_digest
            row.output_format = output_format
            row.error = error
            row.details = {**(row.details or {}), **(details or {}), "params": sorted(params or {})}
            self._write_logged(s, row.run_id, row.step, params or {}, metrics, artifacts)
            lineage = [
                {
                    "run_id": row.run_id,
                    "step": row.step,
                    "digest": d,
                    "kind": k,
                    "direction": "read",
                }
                for d, k in reads
            ]
            if output_digest:
                lineage.append(
                    {
                        "run_id": row.run_id,
                        "step": row.step,
                        "digest": output_digest,
                        "kind": "output",
                        "direction": "write",
                    }
                )
            lineage += [
                {
                    "run_id": row.run_id,
                    "step": row.step,
                    "digest": a.digest,
                    "kind": "artifact",
                    "direction": "write",
                }
                for a in artifacts
            ]
            if lineage:
                s.execute(insert(LineageRow), lineage)

    def record_cached_step(
        self, run_id: str, step: str, source: StepRecord, source_run: str
    ) -> None:
        """A cache hit: record the step as cached and carry over what the source logged."""
        with self.db.transaction() as s:
            at = now()
            s.add(
                StepRunRow(
                    run_id=run_id,
                    step=step,
                    fingerprint=source.fingerprint,
                    status="cached",
                    started_at=at,
                    ended_at=at,
                    output_digest=source.output_digest,
                    output_format=source.output_format,
                    details={**source.details, "cached_from": source_run},
                )
            )
            keys = source.details.get("params", [])
            if keys:
                carried = s.execute(
                    select(ParamRow.key, ParamRow.value).where(
                        ParamRow.run_id == source_run, ParamRow.key.in_(keys)
                    )
                ).all()
                _upsert_params(s, run_id, step, dict(carried))
            metric_rows = s.execute(
                select(MetricRow.key, MetricRow.value, MetricRow.step, MetricRow.timestamp).where(
                    MetricRow.run_id == source_run, MetricRow.source_step == step
                )
            ).all()
            if metric_rows:
                s.connection().execute(
                    _METRICS_INSERT,
                    [
                        {
                            "run_id": run_id,
                            "key": k,
                            "value": v,
                            "step": st,
                            "timestamp": ts,
                            "source_step": step,
                        }
                        for k, v, st, ts in metric_rows
                    ],
                )
            for art in s.scalars(
                select(ArtifactRow).where(
                    ArtifactRow.run_id == source_run, ArtifactRow.step == step
                )
            ):
                s.add(
                    ArtifactRow(
                        run_id=run_id,
                        step=step,
                        name=art.name,
                        digest=art.digest,
                        size=art.size,
                        media_type=art.media_type,
                        created_at=at,
                    )
                )
            if source.output_digest:
                s.add(
                    LineageRow(
                        run_id=run_id,
                        step=step,
                        digest=source.output_digest,
                        kind="output",
                        direction="write",
                    )
                )

    def find_cached(self, fingerprint: str) -> tuple[StepRecord, str] | None:
        """The newest successful execution with this fingerprint, and its run id."""
        with self.db.read() as s:
            row = s.scalars(
                select(StepRunRow)
                .where(
                    StepRunRow.fingerprint == fingerprint,
                    StepRunRow.status == "succeeded",
                    StepRunRow.output_digest.is_not(None),
                )
                .order_by(StepRunRow.id.desc())
                .limit(1)
            ).first()
            return (_step(row), row.run_id) if row else None

    # ------------------------------------------------------------ logging
    def log_params(self, run_id: str, params: Mapping[str, Any], step: str | None = None) -> None:
        with self.db.transaction() as s:
            self._write_logged(s, run_id, step, params, (), ())

    def log_metrics(self, run_id: str, metrics: Sequence[Metric], step: str | None = None) -> None:
        with self.db.transaction() as s:
            self._write_logged(s, run_id, step, {}, metrics, ())

    @staticmethod
    def _write_logged(
        s: Any,
        run_id: str,
        step: str | None,
        params: Mapping[str, Any],
        metrics: Sequence[Metric],
        artifacts: Sequence[ArtifactRecord],
    ) -> None:
        for m in metrics:
            # SQLite turns NaN into NULL (refused) and keeps inf; PostgreSQL keeps both.
            # Refuse them here so that every backend stores the same thing.
            if not math.isfinite(m.value):
                raise StoreError(
                    f"metric {m.key!r} at step {m.step} is {m.value}; the store keeps finite numbers only",
                    hint="log a finite value, or skip the value and log the failure as a parameter",
                )
        _upsert_params(s, run_id, step, params)
        if metrics:
            # one executemany: this is what makes per-value logging cheap. A Core insert
            # on the session's connection, not the ORM's bulk path: half the time
            s.connection().execute(
                _METRICS_INSERT,
                [
                    {
                        "run_id": run_id,
                        "key": m.key,
                        "value": m.value,
                        "step": m.step,
                        "timestamp": m.timestamp,
                        "source_step": step,
                    }
                    for m in metrics
                ],
            )
        at = now()
        for a in artifacts:
            s.add(
                ArtifactRow(
                    run_id=run_id,
                    step=a.step,
                    name=a.name,
                    digest=a.digest,
                    size=a.size,
                    media_type=a.media_type,
                    created_at=at,
                )
            )

    # ------------------------------------------------------------ reads
    def resolve(self, ref: str) -> str:
        """A full run id from an id or a unique prefix of one (at least 4 characters)."""
        with self.db.read() as s:
            if s.get(RunRow, ref) is not None:
                return ref
            if len(ref) >= 4:
                ids = s.scalars(
                    select(RunRow.id)
                    .where(RunRow.id.like(f"{_escape_like(ref)}%", escape="\\"))
                    .limit(3)
                ).all()
                if len(ids) == 1:
                    return ids[0]
                if len(ids) > 1:
                    raise StoreError(
                        f"run id prefix {ref!r} matches several runs: {', '.join(ids)}",
                        hint="give more characters of the id",
                    )
        raise NotFoundError("run", ref, hint="see `shipyard runs list` for run ids")

    def get(self, ref: str) -> RunRecord:
        run_id = self.resolve(ref)
        with self.db.read() as s:
            row = s.get(RunRow, run_id)
            assert row is not None
            return self._record(s, row, full=True)

    def list(self, *, pipeline: str | None = None, limit: int = 50) -> list[RunRecord]:
        with self.db.read() as s:
            q = select(RunRow).order_by(RunRow.started_at.desc()).limit(limit)
            if pipeline:
                q = q.where(RunRow.pipeline == pipeline)
            return [self._record(s, row, full=False) for row in s.scalars(q)]

    # `list` is a method of this class: spell the builtin out after it
    def metric_history(self, run_id: str, key: str) -> builtins.list[Metric]:
        with self.db.read() as s:
            rows = s.execute(
                select(MetricRow.key, MetricRow.value, MetricRow.step, MetricRow.timestamp)
                .where(MetricRow.run_id == run_id, MetricRow.key == key)
                .order_by(MetricRow.step, MetricRow.id)
            ).all()
            return [Metric(*r) for r in rows]

    def count_metrics(self, run_id: str) -> int:
        with self.db.read() as s:
            return int(
                s.scalar(
                    select(func.count()).select_from(MetricRow).where(MetricRow.run_id == run_id)
                )
                or 0
            )

    def delete_run(self, run_id: str) -> None:
        with self.db.transaction() as s:
            for table in (MetricRow, ParamRow, ArtifactRow, LineageRow, StepRunRow):
                s.execute(delete(table).where(table.run_id == run_id))
            s.execute(delete(RunRow).where(RunRow.id == run_id))

    def _record(self, s: Any, row: RunRow, *, full: bool) -> RunRecord:
        params = {
            p.key: p.value for p in s.scalars(select(ParamRow).where(ParamRow.run_id == row.id))
        }
        last = (
            select(MetricRow.key, MetricRow.value)
            .where(MetricRow.run_id == row.id)
            .order_by(MetricRow.key, MetricRow.step, MetricRow.id)
        )
        metrics: dict[str, float] = {}
        for key, value in s.execute(last):
            metrics[key] = value  # ordered by step: the last one wins
        datasets = tuple(
            s.scalars(
                select(LineageRow.digest)
                .where(LineageRow.run_id == row.id, LineageRow.kind == "dataset")
                .distinct()
            )
        )
        steps: tuple[StepRecord, ...] = ()
        artifacts: tuple[ArtifactRecord, ...] = ()
        if full:
            steps = tuple(
                _step(r)
                for r in s.scalars(
                    select(StepRunRow).where(StepRunRow.run_id == row.id).order_by(StepRunRow.id)
                )
            )
            artifacts = tuple(
                ArtifactRecord(a.name, a.digest, a.size, a.step, a.media_type)
                for a in s.scalars(
                    select(ArtifactRow).where(ArtifactRow.run_id == row.id).order_by(ArtifactRow.id)
                )
            )
        return RunRecord(
            id=row.id,
            pipeline=row.pipeline,
            status=row.status,
            started_at=row.started_at,
            ended_at=row.ended_at,
            git_commit=row.git_commit,
            git_dirty=row.git_dirty,
            environment=row.environment or {},
            config=row.config or {},
            error=row.error,
            details=row.details or {},
            params=params,
            metrics=metrics,
            steps=steps,
            artifacts=artifacts,
            datasets=datasets,
        )

    def record_lineage(
        self, run_id: str, step: str | None, digest: str, kind: str, direction: str
    ) -> None:
        with self.db.transaction() as s:
            s.add(
                LineageRow(run_id=run_id, step=step, digest=digest, kind=kind, direction=direction)
            )


_METRICS_INSERT = insert(cast(Table, MetricRow.__table__))


def _upsert_params(s: Any, run_id: str, step: str | None, params: Mapping[str, Any]) -> None:
    """Insert or replace parameters in one statement.

    A read-then-write merge races when two processes log the same key to one run on
    PostgreSQL (one fails on the primary key); ``ON CONFLICT DO UPDATE`` does not.
    Values are checked first, so that every backend refuses the same ones.
    """
    if not params:
        return
    for key, value in params.items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise StoreError(
                f"parameter {key!r} has value {value!r} of type {type(value).__name__}, "
                "which is not a JSON value",
                hint="parameters are numbers, strings, booleans, None, and lists or dicts of them",
            ) from None
    rows = [
        {"run_id": run_id, "key": k, "value": v, "source_step": step} for k, v in params.items()
    ]
    dialect = s.get_bind().dialect.name
    stmt: Any
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(ParamRow).values(rows)
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(ParamRow).values(rows)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        for key, value in params.items():
            s.merge(ParamRow(run_id=run_id, key=key, value=value, source_step=step))
        return
    s.execute(
        stmt.on_conflict_do_update(
            index_elements=["run_id", "key"],
            set_={"value": stmt.excluded.value, "source_step": stmt.excluded.source_step},
        )
    )


def _step(row: StepRunRow) -> StepRecord:
    return StepRecord(
        step=row.step,
        status=row.status,
        fingerprint=row.fingerprint,
        started_at=row.started_at,
        ended_at=row.ended_at,
        output_digest=row.output_digest,
        output_format=row.output_format,
        error=row.error,
        details=row.details or {},
    )


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def timestamp() -> float:
    return time.time()
