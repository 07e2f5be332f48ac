"""Running one step: inputs in, tracked call, output stored. The same code runs in a
thread of this process or in a Ray worker, which is why it takes URLs, not handles.
"""

from __future__ import annotations

import shutil
import traceback
from dataclasses import dataclass, field
from typing import Any

from shipyard.pipeline import materialize
from shipyard.pipeline.step import Step
from shipyard.store.runs import ArtifactRecord, Metric
from shipyard.tracking.context import StepContext, active


@dataclass
class StepTask:
    """Everything a worker needs to run one node."""

    run_id: str
    node: str
    step: Step[..., Any]
    params: dict[str, Any]
    constants: dict[str, Any]
    # argument name -> (digest, format) of each input, or a list of them
    inputs: dict[str, Any]
    settings: Any  # shipyard.config.Settings: a Ray worker opens the project from it


@dataclass
class StepResult:
    node: str
    ok: bool
    output_digest: str | None = None
    output_format: str | None = None
    error: str | None = None
    exception: BaseException | None = None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: list[Metric] = field(default_factory=list)
    artifacts: list[ArtifactRecord] = field(default_factory=list)
    reads: list[tuple[str, str]] = field(default_factory=list)
    value: Any = None  # kept in-process only; Ray results drop it


def run_task(
    task: StepTask, values: dict[str, Any] | None = None, project: Any = None
) -> StepResult:
    """Run one step; never raises for the step's own errors (they are in the result).

    Args:
        task: the node to run.
        values: input values already in memory, by argument name (in-process runs).
        project: the Project, for steps that snapshot datasets (in-process runs).
    """
    if project is None:
        from shipyard.project import Project

        project = Project(task.settings)
    artifacts = project.artifacts
    ctx = StepContext(run_id=task.run_id, step=task.node, artifacts=artifacts, project=project)
    try:
        kwargs: dict[str, Any] = {**task.params, **task.constants}
        for name, ref in task.inputs.items():
            if values is not None and name in values:
                kwargs[name] = values[name]
            elif isinstance(ref, list):
                kwargs[name] = [materialize.load(d, f, artifacts) for d, f in ref]
            else:
                kwargs[name] = materialize.load(ref[0], ref[1], artifacts)
        with active(ctx):
            value = task.step.fn(**kwargs)
        digest, fmt = materialize.dump(value, artifacts)
        if fmt == "bundle":
            value = None  # its directory is scratch: readers unpack the stored archive
    except BaseException as exc:  # the step's error is data for the run record
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        return StepResult(
            node=task.node,
            ok=False,
            error=traceback.format_exc(),
            exception=exc,
            params=ctx.params,
            metrics=ctx.metrics,
            artifacts=ctx.logged_artifacts,
            reads=ctx.reads,
        )
    finally:
        for path in ctx.scratch:
            shutil.rmtree(path, ignore_errors=True)
    return StepResult(
        node=task.node,
        ok=True,
        output_digest=digest,
        output_format=fmt,
        params=ctx.params,
        metrics=ctx.metrics,
        artifacts=ctx.logged_artifacts,
        reads=ctx.reads,
        value=value,
    )


def run_task_remote(task: StepTask) -> StepResult:
    """The Ray entry point: like ``run_task``, without in-memory values."""
    result = run_task(task)
    result.value = None
    if result.exception is not None:
        # exceptions may not pickle; the traceback text carries the story
        result.exception = RuntimeError(str(result.exception))
    return result
