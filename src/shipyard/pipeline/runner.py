"""Executing a pipeline's graph: look up the cache, run what is left, record each step.

Ready nodes (all inputs known) are fingerprinted in order; a fingerprint seen before
is a cache hit and its output is reused without being loaded; the rest run on a
thread pool (``runner: local``) or as Ray tasks (``runner: ray``), so independent
steps run in parallel. After a failure nothing new starts; what is running finishes.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextvars import copy_context
from dataclasses import dataclass, field
from typing import Any

from shipyard.errors import PipelineError
from shipyard.pipeline import materialize
from shipyard.pipeline.events import Progress, StepEvent
from shipyard.pipeline.execute import StepResult, StepTask, run_task, run_task_remote
from shipyard.pipeline.fingerprint import fingerprint
from shipyard.pipeline.step import Node, StepOutput
from shipyard.store.runs import RunStore


@dataclass
class NodeState:
    """A finished node: where its output is stored, and its value when in memory."""

    digest: str
    format: str
    status: str
    seconds: float | None = None
    value: Any = None
    has_value: bool = False
    _items: list[tuple[str, str]] | None = field(default=None, repr=False)

    def item_ref(self, index: int | None, artifacts: Any) -> tuple[str, str]:
        if index is None:
            return self.digest, self.format
        if self._items is None:
            data = json.loads(artifacts.get_bytes(self.digest))
            self._items = [(i["digest"], i["format"]) for i in data["items"]]
        return self._items[index]

    def item_value(self, index: int | None, artifacts: Any) -> Any:
        if not self.has_value:
            self.value = materialize.load(self.digest, self.format, artifacts)
            self.has_value = True
        return self.value if index is None else self.value[index]


@dataclass
class GraphOutcome:
    states: dict[str, NodeState]
    failed: str | None = None
    error: str | None = None
    exception: BaseException | None = None


class Executor:
    """Runs one graph for one run."""

    def __init__(
        self, project: Any, runs: RunStore, run_id: str, progress: Progress | None = None
    ) -> None:
        self.project = project
        self.settings = project.settings
        self.runs = runs
        self.run_id = run_id
        self.progress = progress or (lambda event: None)

    def execute(self, nodes: dict[str, Node]) -> GraphOutcome:
        states: dict[str, NodeState] = {}
        pending = list(nodes)
        running: dict[Any, tuple[str, int, float]] = {}
        outcome = GraphOutcome(states)
        pool = self._pool()
        try:
            while True:
                if outcome.failed is None:
                    self._schedule(nodes, pending, states, running, pool)
                if not running:
                    break
                for handle in self._wait(running):
                    name, step_run_id, started = running.pop(handle)
                    result = self._result(handle)
                    self._finish(result, step_run_id, started, states, outcome)
        finally:
            if isinstance(pool, ThreadPoolExecutor):
                pool.shutdown(wait=True)
        for name in pending:
            self.progress(StepEvent(name, "skipped"))
        return outcome

    # ------------------------------------------------------------------ scheduling
    def _schedule(
        self,
        nodes: dict[str, Node],
        pending: list[str],
        states: dict[str, NodeState],
        running: dict[Any, tuple[str, int, float]],
        pool: Any,
    ) -> None:
        progressed = True
        while progressed:
            progressed = False
            for name in list(pending):
                node = nodes[name]
                if not node.upstream <= states.keys():
                    continue
                pending.remove(name)
                progressed = True
                params = node.params
                refs = {arg: self._refs(value, states) for arg, value in node.inputs.items()}
                const_refs = {
                    arg: materialize.dump(v, self.project.artifacts)
                    for arg, v in node.constants.items()
                }
                fp = fingerprint(
                    node.step,
                    params,
                    {
                        **{a: _digests(r) for a, r in refs.items()},
                        **{f"const:{a}": d for a, (d, _) in const_refs.items()},
                    },
                )
                hit = self.runs.find_cached(fp) if node.step.cache else None
                if hit is not None:
                    record, source_run = hit
                    self.runs.record_cached_step(self.run_id, name, record, source_run)
                    assert record.output_digest and record.output_format
                    states[name] = NodeState(record.output_digest, record.output_format, "cached")
                    self.progress(StepEvent(name, "cached"))
                    continue
                step_run_id = self.runs.start_step(self.run_id, name, fp)
                task = StepTask(
                    self.run_id, name, node.step, params, node.constants, refs, self.settings
                )
                self.progress(StepEvent(name, "started"))
                running[self._submit(pool, task, node, states)] = (
                    name,
                    step_run_id,
                    time.perf_counter(),
                )

    def _refs(self, value: StepOutput | list[StepOutput], states: dict[str, NodeState]) -> Any:
        if isinstance(value, list):
            return [states[v.node].item_ref(v.index, self.project.artifacts) for v in value]
        return states[value.node].item_ref(value.index, self.project.artifacts)

    # ------------------------------------------------------------------ runners
    def _pool(self) -> Any:
        if self.settings.runner == "ray":
            _ray_init(self.settings.max_workers)
            return None
        return ThreadPoolExecutor(
            max_workers=self.settings.max_workers, thread_name_prefix="shipyard-step"
        )

    def _submit(self, pool: Any, task: StepTask, node: Node, states: dict[str, NodeState]) -> Any:
        if pool is None:
            import ray

            _pickle_by_value(node.step.fn)
            return ray.remote(run_task_remote).options(num_cpus=1, max_retries=0).remote(task)
        values = {}
        for arg, out in node.inputs.items():
            outs = out if isinstance(out, list) else [out]
            if all(states[o.node].has_value for o in outs):
                vals = [states[o.node].item_value(o.index, None) for o in outs]
                values[arg] = vals if isinstance(out, list) else vals[0]
        ctx = copy_context()
        return pool.submit(ctx.run, run_task, task, values, self.project)

    def _wait(self, running: dict[Any, Any]) -> list[Any]:
        handles = list(running)
        if isinstance(handles[0], Future):
            done, _ = wait(handles, return_when=FIRST_COMPLETED)
            return list(done)
        import ray

        done, _ = ray.wait(handles, num_returns=1)
        return done

    @staticmethod
    def _result(handle: Any) -> StepResult:
        if isinstance(handle, Future):
            return handle.result()
        import ray

        return ray.get(handle)  # type: ignore[no-any-return]

    def _finish(
        self,
        result: StepResult,
        step_run_id: int,
        started: float,
        states: dict[str, NodeState],
        outcome: GraphOutcome,
    ) -> None:
        seconds = time.perf_counter() - started
        self.runs.finish_step(
            step_run_id,
            status="succeeded" if result.ok else "failed",
            output_digest=result.output_digest,
            output_format=result.output_format,
            error=result.error,
            params=result.params,
            metrics=result.metrics,
            artifacts=result.artifacts,
            reads=result.reads,
        )
        if result.ok:
            assert result.output_digest and result.output_format
            states[result.node] = NodeState(
                result.output_digest,
                result.output_format,
                "succeeded",
                seconds,
                value=result.value,
                has_value=result.value is not None,
            )
            self.progress(StepEvent(result.node, "succeeded", seconds))
        else:
            if outcome.failed is None:
                outcome.failed, outcome.error, outcome.exception = (
                    result.node,
                    result.error,
                    result.exception,
                )
            self.progress(StepEvent(result.node, "failed", seconds, _last_line(result.error)))


def _digests(ref: Any) -> Any:
    return [d for d, _ in ref] if isinstance(ref, list) else ref[0]


def _last_line(text: str | None) -> str | None:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else None


def _ray_init(workers: int) -> None:
    try:
        import ray
    except ImportError:
        raise PipelineError("runner: ray needs Ray", hint="install shipyard[ray]") from None
    if not ray.is_initialized():
        ray.init(
            num_cpus=workers,
            include_dashboard=False,
            log_to_driver=False,
            ignore_reinit_error=True,
            configure_logging=False,
        )


def _pickle_by_value(fn: Callable[..., Any]) -> None:
    """Ship the step's module by value when Ray workers could not import it by name."""
    import sys

    import cloudpickle

    module = sys.modules.get(fn.__module__)
    if module is not None and getattr(module, "__shipyard_loaded_from_file__", False):
        with contextlib.suppress(ValueError):  # already registered
            cloudpickle.register_pickle_by_value(module)
