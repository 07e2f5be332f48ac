"""The stages of one retraining, each a function from the job as stored to its next stage.

``triggered`` -> build the training and frozen evaluation sets -> ``dataset_built`` ->
run the pipeline on the training set (it registers the candidate) -> ``trained`` ->
behavioural tests -> ``tested`` -> the gate against the champion on the frozen set ->
``gated`` -> start the canary -> ``rolling_out`` -> follow it -> ``promoted`` (the
champion alias moves through the gate) or ``rolled_back``. A stage that refuses ends
the job ``rejected``; one that cannot proceed, ``failed``.

Each stage reads only what earlier stages recorded in the job's details and returns
an ``Outcome`` (the stage reached, what it made, a one-line summary); the controller
commits it. A stage run again after a crash repeats no work that was recorded: a
training rerun is all cache hits and registers no new version, and a canary already
started by this job is adopted rather than started again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.continuous.spec import WatchSpec
from shipyard.continuous.training_set import Shortfall, build_training_set
from shipyard.errors import ConfigError, RegistryError
from shipyard.store.training_jobs import FAILED, PROMOTED, REJECTED, ROLLED_BACK, TrainingJob

if TYPE_CHECKING:
    from shipyard.pipeline import Pipeline
    from shipyard.pipeline.events import Progress
    from shipyard.project import Project
    from shipyard.rollout.analysis import RolloutMetricsSource

ACTOR = "shipyard watch"


@dataclass(frozen=True)
class Outcome:
    """What a stage did: the stage the job reaches, the outputs to record, a summary.

    ``stage`` equal to the job's current stage means the job waits (for labels, for
    the canary) and is looked at again on the next pass.
    """

    stage: str
    details: Mapping[str, Any] = field(default_factory=dict)
    summary: str = ""


@dataclass
class StageContext:
    """What a stage may use: the project, the model's watch spec and the job as stored."""

    project: Project
    spec: WatchSpec
    job: TrainingJob
    clock: Callable[[], float]
    pipeline: Callable[[], Pipeline]
    metrics: RolloutMetricsSource | None = None
    progress: Progress | None = None

    @property
    def candidate(self) -> str:
        return str(self.job.details["candidate"])

    @property
    def eval_dataset(self) -> str:
        return str(self.job.details["dataset"]["eval"])

    def registry(self) -> Any:
        from shipyard.registry import Registry

        return Registry(self.project)


def ended(stage: str, reason: str, **details: Any) -> Outcome:
    return Outcome(stage, {"reason": reason, **details}, reason)


# ---------------------------------------------------------------------- stages
def build_dataset(ctx: StageContext) -> Outcome:
    """``triggered`` -> ``dataset_built``: snapshot the training and frozen evaluation sets."""
    policy = ctx.spec.training_set
    target = policy.target or _target_of(ctx)
    built = build_training_set(
        ctx.project, ctx.spec.model, ctx.spec.endpoint, policy, target=target
    )
    if isinstance(built, Shortfall):
        waited = ctx.clock() - ctx.job.created_at.timestamp()
        if policy.on_insufficient == "fail":
            return ended(FAILED, f"not enough labelled events: {built.reason}")
        if waited > policy.max_wait_s:
            return ended(
                FAILED,
                f"not enough labelled events after waiting {waited:.0f}s: {built.reason}",
            )
        return Outcome(
            ctx.job.stage, {"waiting": built.reason}, f"waiting for labels: {built.reason}"
        )
    return Outcome("dataset_built", {"dataset": built.to_dict(), "waiting": None}, built.describe())


def train(ctx: StageContext) -> Outcome:
    """``dataset_built`` -> ``trained``: run the pipeline on the training set; it registers the candidate."""
    spec = ctx.spec
    pipe = ctx.pipeline()
    problems = pipeline_problems(spec, pipe)
    if problems:
        raise ConfigError("; ".join(problems), hint=PIPELINE_HINT)
    digest = ctx.job.details["dataset"]["train"]
    run = pipe.run(
        {spec.dataset_param: digest}, project=ctx.project, progress=ctx.progress,
        raise_on_failure=False,
    )  # fmt: skip
    record = {"id": run.id, "steps": len(run.steps), "cached": run.cached}
    if run.status != "succeeded":
        last = (run.error or "").strip().splitlines()[-1:] or ["no error recorded"]
        return ended(FAILED, f"pipeline run {run.id} failed: {last[0]}", run=record)
    version = run.model_version
    if version is None:
        return ended(
            FAILED,
            f"pipeline run {run.id} registered no model version; the pipeline must return a Bundle",
            run=record,
        )
    registry = ctx.registry()
    champion = registry.store.aliases(spec.model).get("champion")
    if champion == version.version:
        return ended(
            REJECTED,
            f"the retrained model is the champion itself ({version.ref}, same bundle): "
            "the new data changed nothing",
            run=record, candidate=version.ref,
        )  # fmt: skip
    registry.set_tags(version.ref, {"training_job": ctx.job.id})
    cached = f", {len(run.cached)} cached" if run.cached else ""
    return Outcome(
        "trained",
        {"run": record, "candidate": version.ref},
        f"run {run.id} ({len(run.steps)} steps{cached}) registered {version.ref}",
    )


def run_tests(ctx: StageContext) -> Outcome:
    """``trained`` -> ``tested``: the project's behavioural suites on the candidate."""
    from shipyard.errors import ModelTestError
    from shipyard.testing.runner import project_suites, test_model
    from shipyard.testing.spec import SuiteSpecError

    try:
        suites = project_suites(ctx.project)
    except SuiteSpecError:
        raise
    except ModelTestError as exc:
        return Outcome(
            "tested", {"tests": {"skipped": exc.message}}, f"no tests run: {exc.message}"
        )
    report = test_model(ctx.project, ctx.candidate, suites)
    failing = [f"{s.name}/{r.name}" for s in report.suites for r in s.results if not r.passed]
    summary = {
        "passed": report.passed,
        "suites": {s.name: s.passed for s in report.suites},
        "failed": failing,
    }
    if not report.passed:
        return ended(REJECTED, f"behavioural tests failed: {', '.join(failing)}", tests=summary)
    n = sum(len(s.results) for s in report.suites)
    tests = "test" if n == 1 else "tests"
    return Outcome(
        "tested", {"tests": summary}, f"{n} behavioural {tests} passed on {ctx.candidate}"
    )


def gate(ctx: StageContext) -> Outcome:
    """``tested`` -> ``gated``: the promotion gate against the champion, on the frozen set."""
    from shipyard.registry import evaluate_gate

    report = evaluate_gate(
        ctx.registry(), ctx.candidate, evaluation_dataset=ctx.eval_dataset,
        n_bootstrap=ctx.spec.n_bootstrap,
    )  # fmt: skip
    ev = report.evidence
    summary = {
        "passed": report.passed,
        "incumbent": ev.incumbent,
        "dataset": ev.dataset_digest,
        "metric": ev.metric,
        "candidate_score": ev.candidate_score,
        "incumbent_score": ev.incumbent_score,
        "improvement": ev.improvement,
        "p_value": ev.p_value,
        "criteria": [c.describe() for c in report.criteria],
    }
    if not report.passed:
        reasons = "; ".join(c.describe() for c in report.failed)
        return ended(REJECTED, f"the gate refused {ctx.candidate}: {reasons}", gate=summary)
    judged = [c.describe() for c in report.criteria if c.name in ("improvement", "significance")]
    against = f" against {ev.incumbent}" if ev.incumbent else " (no champion yet)"
    text = f"{ctx.candidate} passes the gate{against}" + (
        f": {'; '.join(judged)}" if judged else ""
    )
    return Outcome("gated", {"gate": summary}, text)


def start_rollout(ctx: StageContext) -> Outcome:
    """``gated`` -> ``rolling_out``: canary the candidate against the endpoint's stable version."""
    from shipyard.registry.reference import parse_ref
    from shipyard.rollout.deploy import deploy
    from shipyard.rollout.spec import CanarySpec, parse_endpoint
    from shipyard.store.endpoints import EndpointStore
    from shipyard.store.rollouts import RolloutStore

    spec, job = ctx.spec, ctx.job
    if spec.rollout is None:
        return promote(
            ctx, f"continuous training job {job.id[:8]}: gate passed (no canary configured)"
        )
    endpoint = spec.endpoint
    actor = f"{ACTOR} (job {job.id[:8]})"
    rollouts = RolloutStore(ctx.project.db)
    mine = _started_by(rollouts, endpoint, actor)
    if mine is not None:  # started before a crash: adopt it
        return _rolling_out(
            mine.id, endpoint, str(mine.spec.get("stable")), ctx.candidate, adopted=True
        )
    active = rollouts.active(endpoint)
    if active:
        return Outcome(
            job.stage,
            {
                "waiting": f"endpoint '{endpoint}' has rollout {active[0].id[:8]} ({active[0].state})"
            },
            f"waiting: endpoint '{endpoint}' has another rollout in progress ({active[0].id[:8]})",
        )
    stored = EndpointStore(ctx.project.db).get(endpoint)
    if stored is None:
        return ended(
            FAILED,
            f"endpoint '{endpoint}' is not deployed, so there is no stable version to canary "
            f"against; deploy it first: shipyard deploy {endpoint} --model {spec.model}@champion",
        )
    current = parse_endpoint(endpoint, dict(stored.spec))
    if isinstance(current, CanarySpec) and current.canary == ctx.candidate:
        # a crash between storing this canary's routing and starting its rollout
        current = parse_endpoint(endpoint, {"strategy": "single", "model": current.stable})
    if current.strategy != "single":
        return ended(
            FAILED,
            f"endpoint '{endpoint}' routes with strategy {current.strategy}; a retrained "
            "model is canaried only against a single stable version",
        )
    stable = str(current.references()["default"])
    if parse_ref(stable).name != spec.model:
        return ended(
            FAILED, f"endpoint '{endpoint}' serves {stable}, not a version of '{spec.model}'"
        )
    if stable == ctx.candidate:
        return promote(ctx, f"continuous training job {job.id[:8]}: {endpoint} already serves it")
    canary = CanarySpec.model_validate(
        {"stable": stable, "canary": ctx.candidate, "weight": 0.0, "rollout": spec.rollout}
    )
    deployment = deploy(
        ctx.project, endpoint, canary, actor=actor,
        reason=f"continuous training job {job.id[:8]}: canary {ctx.candidate}",
    )  # fmt: skip
    assert deployment.rollout_id is not None
    return _rolling_out(deployment.rollout_id, endpoint, stable, ctx.candidate, adopted=False)


def follow_rollout(ctx: StageContext) -> Outcome:
    """``rolling_out`` -> ``promoted`` | ``rolled_back``: tick the canary and read its state."""
    from shipyard.rollout.controller import RolloutController
    from shipyard.store.rollouts import ACTIVE, SUCCEEDED, RolloutStore

    rollout_id = str(ctx.job.details["rollout"]["id"])
    endpoint = ctx.spec.endpoint
    controller = RolloutController(ctx.project.db, _metrics(ctx), clock=ctx.clock)
    controller.tick(endpoint)  # any process may tick; the store lets one advance a step
    record = RolloutStore(ctx.project.db).get(rollout_id)
    state = {"id": rollout_id, "state": record.state, "step": record.step_index}
    if record.state in ACTIVE:
        steps = len((record.spec.get("rollout") or {}).get("steps", []))
        weight = record.progress.get("weight")
        return Outcome(
            ctx.job.stage,
            {"rollout": {**ctx.job.details["rollout"], **state}},
            f"canary {ctx.candidate} {record.state} at step {record.step_index}/{steps}, weight {weight}",
        )
    if record.state == SUCCEEDED:
        ctx.job = _with(ctx.job, rollout={**ctx.job.details["rollout"], **state})
        return promote(
            ctx,
            f"continuous training job {ctx.job.id[:8]}: canary rollout {rollout_id[:8]} succeeded",
        )
    decisions = RolloutStore(ctx.project.db).decisions(rollout_id, limit=1)
    why = decisions[-1].action if decisions else record.state
    return ended(
        ROLLED_BACK,
        f"canary rollout {rollout_id[:8]} ended {record.state} ({why}); {ctx.candidate} is not promoted",
        rollout={**ctx.job.details["rollout"], **state},
    )


def promote(ctx: StageContext, reason: str) -> Outcome:
    """Move the champion alias to the candidate through the gate, on the same frozen set."""
    from shipyard.registry.gate import promote as gated_promote

    try:
        report = gated_promote(
            ctx.registry(), ctx.candidate, actor=ACTOR, reason=reason,
            evaluation_dataset=ctx.eval_dataset, n_bootstrap=ctx.spec.n_bootstrap,
        )  # fmt: skip
    except RegistryError as exc:
        return ended(
            FAILED,
            f"{ctx.candidate} could not become champion: {exc}",
            promotion={"outcome": "refused"},
            **({"rollout": ctx.job.details["rollout"]} if "rollout" in ctx.job.details else {}),
        )
    details: dict[str, Any] = {
        "promotion": {"outcome": report.outcome, "event_id": report.event_id}
    }
    if "rollout" in ctx.job.details:
        details["rollout"] = ctx.job.details["rollout"]
    return Outcome(PROMOTED, details, f"{ctx.candidate} is champion ({report.outcome})")


STAGES: dict[str, Callable[[StageContext], Outcome]] = {
    "triggered": build_dataset,
    "dataset_built": train,
    "trained": run_tests,
    "tested": gate,
    "gated": start_rollout,
    "rolling_out": follow_rollout,
}


# ---------------------------------------------------------------------- helpers
PIPELINE_HINT = (
    "declare the pipeline with @shipyard.pipeline(model=NAME) and give it a parameter that "
    "reads the stored dataset it is given: Dataset.load(ref, shipyard.current_project())"
)


def pipeline_problems(spec: WatchSpec, pipe: Pipeline) -> list[str]:
    """Why ``pipe`` cannot retrain ``spec.model`` (empty when it can)."""
    problems = []
    if pipe.model != spec.model:
        problems.append(
            f"continuous.{spec.model}.pipeline: pipeline '{spec.pipeline}' registers "
            f"{'model ' + repr(pipe.model) if pipe.model else 'no model'}, not '{spec.model}'"
        )
    params = pipe.signature.parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    if spec.dataset_param not in params and not takes_any:
        problems.append(
            f"continuous.{spec.model}.dataset_param: pipeline '{spec.pipeline}' has no "
            f"parameter {spec.dataset_param!r} (its parameters: {', '.join(params) or 'none'})"
        )
    return problems


def _target_of(ctx: StageContext) -> str:
    registry = ctx.registry()
    try:
        version = registry.get(ctx.spec.model)
    except (RegistryError, LookupError):
        version = None
    target = (version.details or {}).get("target") if version is not None else None
    if not target:
        raise ConfigError(
            f"continuous.{ctx.spec.model}.training_set.target: not set, and model "
            f"'{ctx.spec.model}' has no registered version that records its target column",
            hint="set training_set.target to the column the outcome fills (e.g. price)",
        )
    return str(target)


def _started_by(rollouts: Any, endpoint: str, actor: str) -> Any:
    """The endpoint's newest rollout when this job started it, else None."""
    latest = rollouts.latest(endpoint)
    if latest is None:
        return None
    first = rollouts.decisions(latest.id)[:1]
    if first and first[0].action == "start" and first[0].evidence.get("actor") == actor:
        return latest
    return None


def _rolling_out(
    rollout_id: str, endpoint: str, stable: str, canary: str, *, adopted: bool
) -> Outcome:
    verb = "adopted" if adopted else "started"
    return Outcome(
        "rolling_out",
        {"rollout": {"id": rollout_id, "endpoint": endpoint, "stable": stable, "canary": canary}},
        f"canary rollout {rollout_id[:8]} {verb} on {endpoint}: {canary} against {stable}",
    )


def _metrics(ctx: StageContext) -> RolloutMetricsSource:
    if ctx.metrics is not None:
        return ctx.metrics
    from shipyard.rollout.analysis import StoreMetricsSource
    from shipyard.store.events import EventStore

    return StoreMetricsSource(EventStore(ctx.project.db))


def _with(job: TrainingJob, **details: Any) -> TrainingJob:
    from dataclasses import replace

    return replace(job, details={**job.details, **details})
