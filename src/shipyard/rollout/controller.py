"""The progressive rollout controller: walk a canary's steps, judge it, promote or roll back.

A rollout's steps come from its canary spec (``rollout.steps``, in the spirit of Argo
Rollouts): ``set_weight N``, ``set_segment [values]`` (or everyone), ``pause`` (for a
duration, or until resumed) and ``analysis`` (``count`` looks, one per ``interval``,
at the requests since the step began). All state lives in the store; ``tick`` reads
it, makes at most a few decisions and writes each one with its evidence, together
with the endpoint's new routing, in one transaction. A server polling the endpoint
table applies the routing. Any process may tick (the server's ``RolloutRunner``,
``shipyard rollout run``): the store's sequence check lets only one advance a step.

Outcomes, as Argo's: an analysis that fails rolls back at once (canary weight 0,
state ``rolled_back``); one still inconclusive after its looks pauses for a person
(``on_inconclusive: pause``) or keeps looking up to ``max_wait`` (``wait``); after
the last step the canary is promoted (the endpoint becomes ``single`` on it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.errors import RolloutError
from shipyard.rollout.analysis import FAIL, INCONCLUSIVE, PASS, RolloutMetricsSource, analyse
from shipyard.rollout.spec import CanarySpec, EndpointSpecError, dump_endpoint, parse_endpoint
from shipyard.store.db import Database
from shipyard.store.endpoints import EndpointStore
from shipyard.store.rollouts import (
    ABORTED,
    PAUSED,
    ROLLED_BACK,
    RUNNING,
    SUCCEEDED,
    RolloutDecision,
    RolloutRecord,
    RolloutStore,
    Transition,
)

logger = logging.getLogger("shipyard.rollout")
MAX_STEPS_PER_TICK = 20


class NoActiveRolloutError(RolloutError, LookupError):
    """The endpoint has no running or paused rollout to act on."""

    def __init__(self, endpoint: str, state: str | None = None) -> None:
        self.endpoint = endpoint
        last = f"; its last rollout {state}" if state else ""
        super().__init__(
            f"endpoint '{endpoint}' has no active rollout{last}",
            hint=f"start one: shipyard deploy {endpoint} --strategy canary ... --steps ...",
        )


@dataclass(frozen=True)
class RolloutStatus:
    """A rollout with its decisions and the endpoint's routing, for status views."""

    rollout: RolloutRecord
    decisions: tuple[RolloutDecision, ...]
    endpoint_spec: Mapping[str, Any] | None
    endpoint_revision: int | None

    @property
    def steps(self) -> list[str]:
        spec = parse_endpoint(self.rollout.endpoint, self.rollout.spec)
        assert isinstance(spec, CanarySpec) and spec.rollout is not None
        return [s.describe() for s in spec.rollout.steps]

    @property
    def weight(self) -> float | None:
        spec = self.endpoint_spec or {}
        if spec.get("strategy") == "canary":
            return float(spec.get("weight", 0.0))
        if spec.get("strategy") == "single":
            return 100.0 if self.rollout.state == SUCCEEDED else None
        return None

    @property
    def last_analysis(self) -> Mapping[str, Any] | None:
        for d in reversed(self.decisions):
            if d.action == "analysis":
                return d.evidence
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.rollout.to_dict(),
            "steps": self.steps,
            "current_step": self.steps[self.rollout.step_index]
            if self.rollout.step_index < len(self.steps)
            else None,
            "weight": self.weight,
            "endpoint": {"spec": self.endpoint_spec, "revision": self.endpoint_revision},
            "decisions": [d.to_dict() for d in self.decisions],
        }


class RolloutController:
    """Advances every active rollout of a project, one decision at a time.

    Args:
        db: the project's metadata database (rollouts and endpoints).
        metrics: where analysis reads served requests and outcomes.
        clock: unix time now (tests pass a fake one).

    Example:
        >>> controller = RolloutController(project.db, StoreMetricsSource(EventStore(project.db)))
        >>> controller.tick()  # doctest: +SKIP
    """

    def __init__(
        self,
        db: Database,
        metrics: RolloutMetricsSource,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rollouts = RolloutStore(db)
        self.endpoints = EndpointStore(db)
        self.metrics = metrics
        self.clock = clock

    # ------------------------------------------------------------------ people
    def start(self, endpoint: str, spec: CanarySpec, *, actor: str = "user") -> RolloutRecord:
        """Begin a rollout of ``spec`` (a canary spec with ``rollout.steps``) on ``endpoint``.

        Raises:
            EndpointSpecError: the spec has no rollout steps.
            RolloutActiveError: the endpoint already has an active rollout.
        """
        if spec.rollout is None:
            raise EndpointSpecError(
                f"endpoint {endpoint!r}",
                ["rollout: a canary with no steps has nothing to roll out"],
                hint="give steps, e.g. --steps '5,pause 30s,analysis,50,analysis,100'",
            )
        now = self.clock()
        return self.rollouts.create(
            endpoint,
            dump_endpoint(spec),
            progress={"step_started_at": now, "looks": [], "weight": spec.weight,
                      "segment": spec.segment.values if spec.segment else None},
            actor=actor,
        )  # fmt: skip

    def pause(
        self, endpoint: str, *, actor: str = "user", reason: str | None = None
    ) -> RolloutRecord:
        """Hold the rollout at its current step and weight until resumed."""
        r = self._active(endpoint)
        if r.state == PAUSED:
            return r
        progress = {**r.progress, "paused_by": "user", "paused_at": self.clock()}
        return self._commit(r, Transition(
            PAUSED, r.step_index, progress, "pause", PAUSED,
            {"actor": actor, "reason": reason}, actor=actor,
        ))  # fmt: skip

    def resume(self, endpoint: str, *, actor: str = "user") -> RolloutRecord:
        """Continue a paused rollout: a person's pause resumes its step (timer restarted);
        a pause step or an inconclusive analysis is accepted and the next step begins."""
        r = self._active(endpoint)
        if r.state != PAUSED:
            raise RolloutError(
                f"the rollout of '{endpoint}' is {r.state}, not paused", hint="nothing to resume"
            )
        accepted = r.progress.get("paused_by") in ("step", "inconclusive")
        step = r.step_index + 1 if accepted else r.step_index
        progress = {
            **r.progress, "paused_by": None, "step_started_at": self.clock(), "looks": [],
        }  # fmt: skip
        evidence = {"actor": actor, "accepted": r.progress.get("paused_by") if accepted else None}
        return self._commit(
            r, Transition(RUNNING, step, progress, "resume", RUNNING, evidence, actor=actor)
        )

    def abort(
        self, endpoint: str, *, actor: str = "user", reason: str | None = None
    ) -> RolloutRecord:
        """Stop the rollout and send every request back to stable (canary weight 0)."""
        r = self._active(endpoint)
        evidence = {"actor": actor, "reason": reason}
        return self._rollback(r, ABORTED, "abort", evidence, actor=actor)

    def status(self, endpoint: str, *, decisions: int | None = 50) -> RolloutStatus:
        """The endpoint's newest rollout, its decisions and the routing now.

        Raises:
            NoActiveRolloutError: the endpoint never had a rollout.
        """
        r = self.rollouts.latest(endpoint)
        if r is None:
            raise NoActiveRolloutError(endpoint)
        stored = self.endpoints.get(endpoint)
        return RolloutStatus(
            r,
            tuple(self.rollouts.decisions(r.id, limit=decisions)),
            None if stored is None else stored.spec,
            None if stored is None else stored.revision,
        )

    # ------------------------------------------------------------------ the loop
    def tick(self, endpoint: str | None = None) -> list[RolloutRecord]:
        """Advance every running rollout (of one endpoint) as far as it can go now."""
        out = []
        for r in self.rollouts.active(endpoint):
            try:
                out.append(self._advance(r))
            except RolloutError as exc:
                logger.warning("rollout %s of %s cannot advance: %s", r.id, r.endpoint, exc)
                out.append(r)
        return out

    def _advance(self, r: RolloutRecord) -> RolloutRecord:
        for _ in range(MAX_STEPS_PER_TICK):
            if r.state != RUNNING:
                return r
            changed = self._step(r)
            if changed is None or changed.seq == r.seq:
                return changed or r
            if changed.step_index == r.step_index and changed.state == r.state:
                return changed  # an analysis look: wait for the next interval
            r = changed
        return r

    def _step(self, r: RolloutRecord) -> RolloutRecord | None:
        spec = parse_endpoint(r.endpoint, r.spec)
        assert isinstance(spec, CanarySpec) and spec.rollout is not None
        if not self._endpoint_is_ours(r, spec):
            return self._rollback(
                r, ABORTED, "abort", {"reason": "the endpoint was changed outside the rollout"},
                write_endpoint=False,
            )  # fmt: skip
        steps = spec.rollout.steps
        now = self.clock()
        if r.step_index >= len(steps):
            return self._promote(r, spec)
        step = steps[r.step_index]
        progress = dict(r.progress)
        started = float(progress.get("step_started_at", now))
        nxt = {**progress, "step_started_at": now, "looks": []}
        if step.kind == "set_weight":
            nxt["weight"] = step.weight
            return self._commit(r, Transition(
                RUNNING, r.step_index + 1, nxt, "set_weight", "done", {"weight": step.weight},
                endpoint_spec=self._routing(spec, nxt),
            ))  # fmt: skip
        if step.kind == "set_segment":
            nxt["segment"] = step.segment
            return self._commit(r, Transition(
                RUNNING, r.step_index + 1, nxt, "set_segment", "done", {"segment": step.segment},
                endpoint_spec=self._routing(spec, nxt),
            ))  # fmt: skip
        if step.kind == "pause":
            if step.duration is None:
                return self._commit(r, Transition(
                    PAUSED, r.step_index, {**progress, "paused_by": "step"}, "pause", PAUSED,
                    {"reason": "the step waits for `shipyard rollout resume`"},
                ))  # fmt: skip
            if now - started < step.duration:
                return None
            return self._commit(r, Transition(
                RUNNING, r.step_index + 1, nxt, "pause", "done", {"waited_s": now - started},
            ))  # fmt: skip
        return self._analysis(r, spec, step_analysis=spec.rollout.analysis_for(step), now=now)

    def _analysis(
        self, r: RolloutRecord, spec: CanarySpec, *, step_analysis: Any, now: float
    ) -> RolloutRecord | None:
        a = step_analysis
        progress = dict(r.progress)
        started = float(progress.get("step_started_at", now))
        looks = [float(t) for t in progress.get("looks", [])]
        if now - (looks[-1] if looks else started) < a.interval:
            return None
        observations = self.metrics.observations(r.endpoint, since=started, until=now)
        outcomes = {}
        if a.outcome is not None:
            outcomes = self.metrics.outcomes(r.endpoint, a.outcome.kind, since=started, until=now)
        segment_by = spec.segment.field if spec.segment is not None else None
        active = progress.get("segment") if spec.segment is not None else None
        report = analyse(
            observations,
            outcomes,
            a,
            since=started,
            until=now,
            looks=looks,
            segment_by=segment_by,
            segment_values=active,
        )
        evidence = {**report.to_dict(), "look": len(looks) + 1, "of": a.count,
                    "weight": progress.get("weight")}  # fmt: skip
        if report.verdict == FAIL:
            return self._rollback(r, ROLLED_BACK, "analysis", evidence, outcome=FAIL)
        looks.append(now)
        nxt = {**progress, "looks": looks}
        if len(looks) < a.count:
            return self._commit(
                r, Transition(RUNNING, r.step_index, nxt, "analysis", report.verdict, evidence)
            )
        if report.verdict == PASS:
            done = {**progress, "step_started_at": now, "looks": []}
            return self._commit(
                r, Transition(RUNNING, r.step_index + 1, done, "analysis", PASS, evidence)
            )
        if a.on_inconclusive == "wait" and now - started < a.duration_s + a.max_wait:
            return self._commit(
                r, Transition(RUNNING, r.step_index, nxt, "analysis", INCONCLUSIVE, evidence)
            )
        paused = {**nxt, "paused_by": "inconclusive", "paused_at": now}
        return self._commit(
            r, Transition(PAUSED, r.step_index, paused, "analysis", INCONCLUSIVE, evidence)
        )

    # ------------------------------------------------------------------ helpers
    def _routing(self, spec: CanarySpec, progress: Mapping[str, Any]) -> dict[str, Any]:
        """The endpoint's canary routing at the rollout's weight and segment now."""
        base = dump_endpoint(spec)
        base["weight"] = float(progress.get("weight", 0.0))
        segment = progress.get("segment")
        if segment is None or spec.segment is None:
            base.pop("segment", None)
        else:
            base["segment"] = {"field": str(spec.segment.field), "values": list(segment)}
        return base

    def _promote(self, r: RolloutRecord, spec: CanarySpec) -> RolloutRecord:
        single = {"strategy": "single", "model": spec.canary}
        return self._commit(r, Transition(
            SUCCEEDED, r.step_index, dict(r.progress), "promote", SUCCEEDED,
            {"model": spec.canary, "replaced": spec.stable}, endpoint_spec=single,
        ))  # fmt: skip

    def _rollback(
        self, r: RolloutRecord, state: str, action: str, evidence: Mapping[str, Any],
        *, outcome: str | None = None, actor: str = "rollout-controller", write_endpoint: bool = True,
    ) -> RolloutRecord:  # fmt: skip
        spec = parse_endpoint(r.endpoint, r.spec)
        assert isinstance(spec, CanarySpec)
        progress = {**r.progress, "weight": 0.0}
        routing = self._routing(spec, progress) if write_endpoint else None
        return self._commit(r, Transition(
            state, r.step_index, progress, action, outcome or state,
            {**evidence, "weight": 0.0}, endpoint_spec=routing, actor=actor,
        ))  # fmt: skip

    def _commit(self, r: RolloutRecord, change: Transition) -> RolloutRecord:
        done = self.rollouts.transition(r, change)
        if done is None:  # another controller moved it first: take its word
            return self.rollouts.get(r.id)
        record, endpoint = done
        logger.info(
            "rollout %s of %s: %s -> %s (step %d%s)", r.id[:8], r.endpoint, change.action,
            change.outcome, record.step_index,
            f", endpoint revision {endpoint.revision}" if endpoint else "",
        )  # fmt: skip
        return record

    def _active(self, endpoint: str) -> RolloutRecord:
        active = self.rollouts.active(endpoint)
        if not active:
            last = self.rollouts.latest(endpoint)
            raise NoActiveRolloutError(endpoint, None if last is None else last.state)
        return active[0]

    def _endpoint_is_ours(self, r: RolloutRecord, spec: CanarySpec) -> bool:
        stored = self.endpoints.get(r.endpoint)
        if stored is None:
            return False
        s = stored.spec
        return (
            s.get("strategy") == "canary"
            and s.get("stable") == spec.stable
            and s.get("canary") == spec.canary
        )


class RolloutRunner:
    """Ticks a controller every ``interval_s`` in a daemon thread until stopped."""

    def __init__(self, controller: RolloutController, *, interval_s: float = 1.0) -> None:
        self.controller = controller
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="shipyard-rollouts", daemon=True)

    def start(self) -> RolloutRunner:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.controller.tick()
            except Exception:  # a store hiccup must not end the loop
                logger.exception("rollout tick failed")
