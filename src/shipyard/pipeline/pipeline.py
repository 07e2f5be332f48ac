"""``@pipeline``: a function that calls steps; calling it plans, runs and records a run.

Path: ``Pipeline.run`` -> plan (call the function to collect the step graph) ->
``Executor.execute`` (cache look-up, run the rest) -> ``RunStore`` records the run.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import ConfigError, PipelineError, StepFailed
from shipyard.pipeline.step import GraphBuilder, Node, StepOutput, _builder

if TYPE_CHECKING:  # the runner and store pull in SQLAlchemy: imported when a run starts
    from shipyard.pipeline.events import Progress
    from shipyard.pipeline.runner import NodeState
    from shipyard.store.runs import RunRecord


@dataclass(frozen=True)
class StepSummary:
    name: str
    status: str
    seconds: float | None


@dataclass
class Run:
    """The result of running a pipeline: id, status, per-step outcome, outputs."""

    id: str
    pipeline: str
    status: str
    steps: list[StepSummary]
    error: str | None
    project: Any = field(repr=False)
    model_version: Any = None  # the registered model version, when the pipeline names a model
    _returned: Any = field(default=None, repr=False)
    _states: dict[str, NodeState] = field(default_factory=dict, repr=False)

    @property
    def outputs(self) -> Any:
        """What the pipeline function returned, with each step output loaded."""
        return self._resolve(self._returned)

    def output(self, node: str) -> Any:
        """The output of one step of this run, by name."""
        if node not in self._states:
            raise PipelineError(
                f"run {self.id} has no output of step {node!r}",
                hint=f"steps with outputs: {', '.join(self._states)}",
            )
        return self._states[node].item_value(None, self.project.artifacts)

    @property
    def cached(self) -> list[str]:
        return [s.name for s in self.steps if s.status == "cached"]

    def record(self) -> RunRecord:
        from shipyard.store.runs import RunStore

        return RunStore(self.project.db).get(self.id)

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, StepOutput):
            return self._states[value.node].item_value(value.index, self.project.artifacts)
        if isinstance(value, tuple | list):
            return type(value)(self._resolve(v) for v in value)
        if isinstance(value, dict):
            return {k: self._resolve(v) for k, v in value.items()}
        return value


class Pipeline:
    """A function of steps. Use the ``@pipeline`` decorator.

    Args:
        fn: calls steps and returns their outputs (a value, tuple or dict of them).
        name: the pipeline's name in runs (default: the function's name).
        model: when set and the pipeline returns a Bundle, a successful run
            registers it as the next version of this model.
    """

    def __init__(
        self, fn: Callable[..., Any], *, name: str | None = None, model: str | None = None
    ) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        self.model = model
        self.signature = inspect.signature(fn)
        self.__doc__ = fn.__doc__

    def __call__(self, **params: Any) -> Run:
        """Run the pipeline in the project of the current directory; raises on failure."""
        return self.run(params)

    def plan(self, params: Mapping[str, Any]) -> tuple[dict[str, Node], Any]:
        """Call the function with placeholders to collect its step graph."""
        builder = GraphBuilder()
        token = _builder.set(builder)
        try:
            returned = self.fn(**params)
        except TypeError as exc:
            raise PipelineError(
                f"pipeline '{self.name}' could not be planned: {exc}",
                hint=f"its parameters are: {', '.join(self.signature.parameters) or 'none'}",
            ) from None
        finally:
            _builder.reset(token)
        if not builder.nodes:
            raise PipelineError(
                f"pipeline '{self.name}' calls no step",
                hint="decorate its functions with @shipyard.step",
            )
        return builder.nodes, returned

    def run(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        project: Any = None,
        progress: Progress | None = None,
        raise_on_failure: bool = True,
    ) -> Run:
        """Plan, execute and record one run.

        Args:
            params: pipeline parameters; they override ``pipelines.<name>.params``
                from shipyard.yaml, which override the function's defaults.
            project: the Project (default: the current directory's).
            progress: called with a ``StepEvent`` as each step starts and ends.
            raise_on_failure: raise ``StepFailed`` when a step fails (else return
                the failed run).
        """
        from shipyard.pipeline.runner import Executor
        from shipyard.project import Project
        from shipyard.store.runs import RunStore
        from shipyard.tracking import environment

        project = project or Project.open()
        merged = self._params(project, params or {})
        nodes, returned = self.plan(merged)
        _apply_step_config(nodes, project.settings)
        runs = RunStore(project.db)
        run_id = uuid.uuid4().hex[:12]
        commit, dirty, env = environment.capture(project.root)
        config = project.settings.model_dump(mode="json", exclude={"root"})
        step_params = {f"{n.name}.{k}": v for n in nodes.values() for k, v in n.params.items()}
        runs.create_run(
            run_id,
            self.name,
            git_commit=commit,
            git_dirty=dirty,
            environment=env,
            config=config,
            params={**merged, **step_params},
        )
        try:
            outcome = Executor(project, runs, run_id, progress).execute(nodes)
        except BaseException as exc:
            runs.finish_run(run_id, "failed", error=f"{type(exc).__name__}: {exc}")
            raise
        status = "failed" if outcome.failed else "succeeded"
        steps = [
            StepSummary(
                n,
                outcome.states[n].status
                if n in outcome.states
                else ("failed" if n == outcome.failed else "skipped"),
                outcome.states[n].seconds if n in outcome.states else None,
            )
            for n in nodes
        ]
        run = Run(
            run_id, self.name, status, steps, outcome.error, project, None, returned, outcome.states
        )
        details: dict[str, Any] = {"cached": run.cached, "steps": [s.name for s in steps]}
        if not outcome.failed and self.model:
            run.model_version = self._register(run, project)
            if run.model_version is not None:
                details["model_version"] = f"{run.model_version.name}:{run.model_version.version}"
        runs.finish_run(run_id, status, error=outcome.error, details=details)
        if outcome.failed and raise_on_failure:
            raise StepFailed(
                outcome.failed, run_id, outcome.exception or RuntimeError(outcome.error)
            )
        return run

    def _params(self, project: Any, params: Mapping[str, Any]) -> dict[str, Any]:
        spec = project.settings.pipelines.get(self.name)
        merged = {**(spec.params if spec else {}), **params}
        accepts_any = any(p.kind is p.VAR_KEYWORD for p in self.signature.parameters.values())
        unknown = [k for k in merged if k not in self.signature.parameters and not accepts_any]
        if unknown:
            raise PipelineError(
                f"pipeline '{self.name}' has no parameter {', '.join(map(repr, unknown))}",
                hint=f"its parameters are: {', '.join(self.signature.parameters) or 'none'}",
            )
        bound = self.signature.bind_partial(**merged)
        bound.apply_defaults()
        return dict(bound.arguments)

    def _register(self, run: Run, project: Any) -> Any:
        """Register a returned Bundle as the next version of ``self.model``, once.

        A rerun whose bundle step was a cache hit returns the version already
        registered for those bytes instead of adding a copy.
        """
        out = run._returned
        if not isinstance(out, StepOutput) or out.index is not None:
            return None
        state = run._states[out.node]
        if state.format != "bundle":
            return None
        import tempfile

        from shipyard.registry import Registry  # the one upward call: see docs/decisions.md

        registry = Registry(project)
        try:
            known = registry.versions(self.model)
        except LookupError:  # the model's first version
            known = []
        for version in known:
            if version.bundle_digest == state.digest:
                return version
        with tempfile.TemporaryDirectory() as tmp:
            archive = project.artifacts.fetch(state.digest, Path(tmp) / "bundle.tar.gz")
            return registry.register(self.model, archive, run_id=run.id)


def _apply_step_config(nodes: dict[str, Node], settings: Any) -> None:
    """Set step parameters from ``steps.<step>`` in the settings (file, env, --set)."""
    for node in nodes.values():
        configured = {**settings.step_params(node.step.name), **settings.step_params(node.name)}
        for key, value in configured.items():
            if key not in node.step.param_names:
                raise ConfigError(
                    f"steps.{node.step.name}.{key}: step '{node.step.name}' has no parameter {key!r}",
                    hint=f"its parameters are: {', '.join(node.step.param_names) or 'none'}",
                )
            if key in node.inputs:
                raise ConfigError(
                    f"steps.{node.step.name}.{key}: {key!r} is an input from another step, not a parameter"
                )
            node.params[key] = value


def pipeline(
    fn: Callable[..., Any] | None = None, /, *, name: str | None = None, model: str | None = None
) -> Any:
    """Declare a pipeline: a function that calls steps.

    Example:
        @shipyard.pipeline(model="housing")
        def housing(rows: int = 5000):
            frame = load(rows=rows)
            train, test = split(frame)
            return package(train_model(train), test)
    """

    def wrap(f: Callable[..., Any]) -> Pipeline:
        return Pipeline(f, name=name, model=model)

    return wrap(fn) if fn is not None else wrap


def load_pipeline(ref: str, root: Path | None = None) -> Pipeline:
    """A Pipeline from ``path/file.py:function`` or ``package.module:function``."""
    import importlib
    import importlib.util
    import sys

    target, sep, attr = ref.rpartition(":")
    if not sep or not target or not attr:
        raise PipelineError(
            f"{ref!r} does not name a pipeline",
            hint="write path/file.py:function or module:function",
        )
    if target.endswith(".py") or "/" in target:
        path = (Path(root or Path.cwd()) / target).resolve()
        if not path.is_file():
            raise PipelineError(
                f"pipeline file {path} does not exist", hint="give a path relative to the project"
            )
        module_name = f"shipyard_user_{path.stem}_{abs(hash(str(path))) % 10**8}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        module.__shipyard_loaded_from_file__ = True  # type: ignore[attr-defined]
        sys.modules[module_name] = module
        sys.path.insert(0, str(path.parent))
        try:
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(path.parent))
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise PipelineError(f"cannot import {target!r}: {exc}") from None
    obj = getattr(module, attr, None)
    if obj is None:
        raise PipelineError(
            f"{target} has no {attr!r}",
            hint=f"pipelines there: {', '.join(n for n, v in vars(module).items() if isinstance(v, Pipeline)) or 'none'}",
        )
    if not isinstance(obj, Pipeline):
        raise PipelineError(
            f"{ref} is a {type(obj).__name__}, not a pipeline",
            hint="decorate it with @shipyard.pipeline",
        )
    return obj
