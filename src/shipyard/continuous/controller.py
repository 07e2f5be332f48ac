"""The continuous-training controller: check triggers, advance each model's job, record every stage.

Path, per watched model and pass: the model's active job (or a new one, when
``check_triggers`` fires; the store's UNIQUE lock makes it one job whatever other
controllers do) is claimed with a lease -> its next stage runs (``stages.STAGES``) ->
the outcome is committed as a compare-and-set on the stage it left -> again, until
the job ends or waits (for labels, for the canary). The lease is renewed while a
stage runs and given back after the pass; a controller killed mid-stage leaves it
to expire, and the next controller resumes at the last recorded stage.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shipyard.continuous.spec import WatchSpec, parse_continuous
from shipyard.continuous.stages import (
    ACTOR,
    PIPELINE_HINT,
    STAGES,
    Outcome,
    StageContext,
    ended,
    pipeline_problems,
)
from shipyard.continuous.triggers import Trigger, check_triggers
from shipyard.errors import ConfigError, NotFoundError, ShipyardError, StoreError
from shipyard.store.events import EventStore
from shipyard.store.registry import RegistryStore
from shipyard.store.rollouts import RolloutActiveError
from shipyard.store.training_jobs import (
    FAILED,
    TRIGGERED,
    JobConflictError,
    TrainingJob,
    TrainingJobActiveError,
    TrainingJobStore,
)

if TYPE_CHECKING:
    from shipyard.pipeline import Pipeline
    from shipyard.pipeline.events import Progress
    from shipyard.project import Project
    from shipyard.rollout.analysis import RolloutMetricsSource

logger = logging.getLogger("shipyard.continuous")


@dataclass(frozen=True)
class StageEvent:
    """A job reached a stage (or recorded why it waits at one), and how long that took."""

    job_id: str
    model: str
    stage: str
    previous: str | None
    seconds: float
    summary: str
    at: datetime

    @property
    def waiting(self) -> bool:
        return self.stage == self.previous

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job_id,
            "model": self.model,
            "stage": self.stage,
            "previous": self.previous,
            "waiting": self.waiting,
            "seconds": round(self.seconds, 4),
            "summary": self.summary,
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True)
class PassResult:
    """What one pass did for one model: the job it touched (if any) and the stages reached."""

    model: str
    job: TrainingJob | None
    note: str
    events: tuple[StageEvent, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "job": self.job.id if self.job else None,
            "stage": self.job.stage if self.job else None,
            "note": self.note,
            "events": [e.to_dict() for e in self.events],
        }


class ContinuousController:
    """Retrains watched models when triggered: data -> pipeline -> tests -> gate -> canary -> champion.

    Args:
        project: the project (its ``continuous:`` section says what to watch).
        specs: the watched models (default: ``parse_continuous(project.settings)``).
        clock: unix time now (tests pass a fake one); used for leases, cool-downs,
            schedules, the canary's steps and the recorded times.
        owner: this controller's name in leases (default: host:pid:random).
        lease_s: how long a claimed job stays claimed without a renewal.
        on_stage: called with each ``StageEvent`` as it is recorded.
        metrics: where the canary's analysis reads traffic (default: the event store).
        progress: called with each pipeline step's ``StepEvent`` during training.

    Example:
        >>> controller = ContinuousController(Project.open())
        >>> for result in controller.run_once():  # doctest: +SKIP
        ...     print(result.model, result.note)
    """

    def __init__(
        self,
        project: Project,
        *,
        specs: Mapping[str, WatchSpec] | None = None,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
        lease_s: float = 120.0,
        on_stage: Callable[[StageEvent], None] | None = None,
        metrics: RolloutMetricsSource | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.project = project
        self.specs = dict(specs) if specs is not None else parse_continuous(project.settings)
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease_s = lease_s
        self.on_stage = on_stage or (lambda event: None)
        self.metrics = metrics
        self.progress = progress
        self.jobs = TrainingJobStore(project.db)
        self._pipelines: dict[str, Pipeline] = {}
        self._stop = threading.Event()

    # ------------------------------------------------------------------ entry points
    def run_once(self, models: Iterable[str] | None = None) -> list[PassResult]:
        """One pass: for each watched model, start a job if due and advance it as far as it goes.

        Raises:
            ConfigError: ``models`` names a model that is not watched.
        """
        chosen = list(models) if models is not None else list(self.specs)
        for model in chosen:
            self.spec(model)
        results = []
        for model in chosen:
            if self._stop.is_set():
                break
            results.append(self._pass(self.specs[model]))
        return results

    def run(
        self,
        models: Iterable[str] | None = None,
        *,
        interval_s: float = 30.0,
        on_pass: Callable[[list[PassResult]], None] | None = None,
    ) -> None:
        """Run passes every ``interval_s`` seconds until ``stop()`` (a stage in progress finishes).

        Raises:
            ConfigError: ``models`` names a model that is not watched.
        """
        chosen = list(models) if models is not None else None
        for model in chosen or []:
            self.spec(model)
        while not self._stop.is_set():
            try:
                results = self.run_once(chosen)
            except (StoreError, OSError) as exc:  # the store is away: try again next pass
                logger.warning("continuous training pass failed: %s", exc)
            else:
                if on_pass is not None:
                    on_pass(results)
            self._stop.wait(interval_s)

    def stop(self) -> None:
        """Ask ``run`` (and a pass in progress, between stages) to stop."""
        self._stop.set()

    def trigger(self, model: str, reason: str = "requested", *, actor: str = "user") -> TrainingJob:
        """Start a job for ``model`` now, whatever its triggers and cool-down say.

        Raises:
            ConfigError: the model is not watched.
            TrainingJobActiveError: the model is already retraining.
        """
        self.spec(model)
        trigger = Trigger("manual", reason, (), {"actor": actor})
        job = self.jobs.create(model, trigger.to_dict(), now=self.clock())
        self._emit(job, None, 0.0, f"triggered by {actor}: {reason}")
        return job

    def check(self) -> None:
        """Load every watched pipeline and check it fits its entry, before any job needs it.

        Raises:
            ConfigError: naming each pipeline that cannot be used, and why.
        """
        problems = []
        for spec in self.specs.values():
            try:
                problems.extend(pipeline_problems(spec, self.pipeline(spec.pipeline)))
            except ShipyardError as exc:
                problems.append(f"continuous.{spec.model}.pipeline: {exc}")
        if problems:
            raise ConfigError("; ".join(problems), hint=PIPELINE_HINT)

    def pipeline(self, name: str) -> Pipeline:
        """The project's pipeline ``name`` (from ``pipelines:``), loaded once per controller."""
        if name not in self._pipelines:
            from shipyard.pipeline import load_pipeline

            entry = self.project.settings.pipelines.get(name)
            if entry is None:
                raise ConfigError(
                    f"pipeline {name!r} is not in pipelines:",
                    hint=f"known: {', '.join(self.project.settings.pipelines) or 'none'}",
                )
            pipe = load_pipeline(entry.entry, self.project.root)
            pipe.name = name  # runs are named, and take their params, by the config key
            self._pipelines[name] = pipe
        return self._pipelines[name]

    # ------------------------------------------------------------------ one model
    def _pass(self, spec: WatchSpec) -> PassResult:
        job = self.jobs.active(spec.model)
        started: list[StageEvent] = []
        if job is None:
            check = check_triggers(
                spec, last_job=self.jobs.latest(spec.model), events=EventStore(self.project.db),
                registry=RegistryStore(self.project.db), now=self.clock(),
            )  # fmt: skip
            if check.trigger is None:
                return PassResult(spec.model, None, check.note)
            try:
                job = self.jobs.create(spec.model, check.trigger.to_dict(), now=self.clock())
            except TrainingJobActiveError:
                job = self.jobs.active(spec.model)
                if job is None:  # it started and ended while we looked
                    return PassResult(spec.model, None, "another controller handled the trigger")
            else:
                started.append(self._emit(job, None, 0.0, check.trigger.reason))
        job, events, note = self._advance(job, spec)
        return PassResult(spec.model, job, note, (*started, *events))

    def _advance(
        self, job: TrainingJob, spec: WatchSpec
    ) -> tuple[TrainingJob, list[StageEvent], str]:
        claimed = self.jobs.claim(job.id, self.owner, lease_s=self.lease_s, now=self.clock())
        if claimed is None:
            holder = job.lease.get("owner", "another controller")
            return job, [], f"job {job.id[:8]} ({job.stage}) is being advanced by {holder}"
        job = claimed
        events: list[StageEvent] = []
        note = ""
        heartbeat = _Heartbeat(self, job.id)
        try:
            while not job.finished and not self._stop.is_set():
                previous = job.stage
                step = self._step(job, spec)
                if isinstance(step, str):
                    note = step
                    break
                job, seconds, summary = step
                events.append(self._emit(job, previous, seconds, summary))
                if job.stage == previous:
                    note = summary
                    break
        finally:
            heartbeat.stop()
            self.jobs.release(job.id, self.owner)
        return job, events, note or _describe(job)

    def _step(self, job: TrainingJob, spec: WatchSpec) -> tuple[TrainingJob, float, str] | str:
        """Run the stage after ``job.stage`` and commit it; a string says why nothing was committed."""
        stage = job.stage
        try:
            if job.attempts(stage) >= spec.max_attempts:
                outcome: Outcome = ended(
                    FAILED,
                    f"gave up on the stage after '{stage}': {job.attempts(stage)} attempts did not "
                    "finish (the controller stopped or crashed during each)",
                )
                started = time.perf_counter()
            else:
                job = self.jobs.note_attempt(job.id, self.owner, stage)
                started = time.perf_counter()
                outcome = self._run_stage(job, spec)
            details = dict(outcome.details)
            if outcome.stage == stage:  # waiting is not a failed attempt
                details["attempts"] = {**(job.details.get("attempts") or {}), stage: 0}
            elif outcome.stage == FAILED:
                details.setdefault("failed_after", stage)
            seconds = time.perf_counter() - started
            job = self.jobs.advance(
                job.id, owner=self.owner, from_stage=stage, to_stage=outcome.stage,
                details=details, seconds=seconds, now=self.clock(),
            )  # fmt: skip
        except JobConflictError as exc:
            return str(exc.message)
        except _Retry as exc:
            return exc.note
        return job, seconds, outcome.summary

    def _run_stage(self, job: TrainingJob, spec: WatchSpec) -> Outcome:
        ctx = StageContext(
            self.project, spec, job, self.clock, lambda: self.pipeline(spec.pipeline),
            self.metrics, self.progress,
        )  # fmt: skip
        try:
            return STAGES[job.stage](ctx)
        except JobConflictError:
            raise
        except (StoreError, RolloutActiveError) as exc:
            if isinstance(exc, NotFoundError):  # a missing record does not come back by waiting
                return ended(FAILED, f"{_doing(job.stage)} failed: {exc}")
            # the store is away, or a race lost: leave the job for the next pass
            logger.warning("job %s: %s interrupted: %s", job.id[:8], _doing(job.stage), exc)
            raise _Retry(
                f"job {job.id[:8]} waits: {_doing(job.stage)} was interrupted: {exc.message}"
            ) from exc
        except ShipyardError as exc:
            return ended(FAILED, f"{_doing(job.stage)} failed: {exc}")
        except Exception as exc:  # a bug or an outage: retried, up to max_attempts
            logger.exception("job %s: %s raised", job.id[:8], _doing(job.stage))
            raise _Retry(
                f"job {job.id[:8]}: {_doing(job.stage)} raised {type(exc).__name__}: {exc}"
            ) from exc

    def _emit(
        self, job: TrainingJob, previous: str | None, seconds: float, summary: str
    ) -> StageEvent:
        event = StageEvent(
            job.id, job.model, job.stage, previous, seconds, summary,
            datetime.fromtimestamp(self.clock(), UTC),
        )  # fmt: skip
        self.on_stage(event)
        return event

    def spec(self, model: str) -> WatchSpec:
        """The watch spec of ``model``.

        Raises:
            ConfigError: the model is not watched.
        """
        spec = self.specs.get(model)
        if spec is None:
            raise ConfigError(
                f"model {model!r} is not watched",
                hint=f"watched: {', '.join(self.specs) or 'none'}; add it under continuous: in shipyard.yaml",
            )
        return spec


class _Retry(Exception):
    """A stage was interrupted by something that may pass; the job stays where it was."""

    def __init__(self, note: str) -> None:
        self.note = note
        super().__init__(note)


class _Heartbeat:
    """Renews a job's lease while a pass holds it, so a long training keeps its claim."""

    def __init__(self, controller: ContinuousController, job_id: str) -> None:
        self.controller = controller
        self.job_id = job_id
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="shipyard-lease", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        c = self.controller
        while not self._done.wait(c.lease_s / 3):
            try:
                c.jobs.claim(self.job_id, c.owner, lease_s=c.lease_s, now=c.clock())
            except Exception as exc:  # a missed renewal only shortens the lease
                logger.warning("could not renew the lease on job %s: %s", self.job_id[:8], exc)

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)


def _doing(stage: str) -> str:
    return {
        TRIGGERED: "building the training set",
        "dataset_built": "training",
        "trained": "testing",
        "tested": "gating",
        "gated": "starting the canary",
        "rolling_out": "following the canary",
    }.get(stage, f"the stage after {stage}")


def _describe(job: TrainingJob) -> str:
    if job.finished:
        reason = job.details.get("reason")
        return f"job {job.id[:8]} {job.stage}" + (f": {reason}" if reason else "")
    return f"job {job.id[:8]} at {job.stage}"


__all__ = ["ACTOR", "ContinuousController", "PassResult", "StageEvent"]
