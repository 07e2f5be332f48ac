"""``@step``: a plain typed function that Shipyard can cache, track and schedule.

Called inside a ``@pipeline`` function, a step does not run: it adds a node to the
pipeline's graph and returns a placeholder (``StepOutput``) for its result, which
later steps take as input. Called anywhere else, it is the plain function.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import inspect
import textwrap
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar, overload

from shipyard.errors import PipelineError

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class StepOutput:
    """A placeholder for one output of a node, resolved when the pipeline executes."""

    node: str
    index: int | None = None  # position in a tuple output, None for the whole output

    def __iter__(self) -> typing.Iterator[StepOutput]:
        raise PipelineError(
            f"the output of step '{self.node}' cannot be unpacked",
            hint="declare several outputs with a return annotation tuple[A, B] or @step(outputs=2)",
        )

    def __bool__(self) -> bool:
        raise PipelineError(
            f"the output of step '{self.node}' has no value while the pipeline is being planned",
            hint="branch inside a step, not in the pipeline function",
        )


@dataclass
class Node:
    """One call of a step inside a pipeline: its inputs (placeholders) and parameters."""

    name: str
    step: Step[..., Any]
    inputs: dict[str, StepOutput | list[StepOutput]]
    params: dict[str, Any]
    constants: dict[str, Any] = field(default_factory=dict)  # non-JSON values passed in

    @property
    def upstream(self) -> set[str]:
        found: set[str] = set()
        for value in self.inputs.values():
            for out in value if isinstance(value, list) else [value]:
                found.add(out.node)
        return found


class GraphBuilder:
    """Collects nodes while a pipeline function runs."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}

    def add(self, step: Step[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            bound = step.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise PipelineError(
                f"step '{step.name}' called with the wrong arguments: {exc}"
            ) from None
        bound.apply_defaults()
        name = step.name
        count = 1
        while name in self.nodes:
            count += 1
            name = f"{step.name}_{count}"
        inputs: dict[str, StepOutput | list[StepOutput]] = {}
        params: dict[str, Any] = {}
        constants: dict[str, Any] = {}
        for key, value in bound.arguments.items():
            if isinstance(value, StepOutput):
                inputs[key] = value
            elif (
                isinstance(value, list | tuple)
                and value
                and all(isinstance(v, StepOutput) for v in value)
            ):
                inputs[key] = list(value)
            elif _is_json(value):
                params[key] = value
            else:
                constants[key] = value
        self.nodes[name] = Node(name, step, inputs, params, constants)
        if step.outputs == 1:
            return StepOutput(name)
        return tuple(StepOutput(name, i) for i in range(step.outputs))


_builder: contextvars.ContextVar[GraphBuilder | None] = contextvars.ContextVar(
    "shipyard_builder", default=None
)


class Step(Generic[P, R]):
    """A function registered as a pipeline step. Use the ``@step`` decorator."""

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        version: str | None = None,
        outputs: int | None = None,
        cache: bool = True,
    ) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        self.version = version
        self.cache = cache
        self.signature = inspect.signature(fn)
        self.outputs = outputs if outputs is not None else _count_outputs(fn)
        if self.outputs < 1:
            raise PipelineError(
                f"step '{self.name}' declares {self.outputs} outputs", hint="use 1 or more"
            )
        functools.update_wrapper(self, fn)

    @functools.cached_property
    def code_hash(self) -> str:
        """sha256 of the step's source (dedented), or of its bytecode when no source exists."""
        try:
            code = textwrap.dedent(inspect.getsource(self.fn)).encode()
        except (OSError, TypeError):
            c = self.fn.__code__  # type: ignore[attr-defined]
            code = c.co_code + repr(c.co_consts).encode()
        return hashlib.sha256(code).hexdigest()

    @property
    def param_names(self) -> list[str]:
        return list(self.signature.parameters)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        builder = _builder.get()
        if builder is None:
            return self.fn(*args, **kwargs)
        return builder.add(self, args, kwargs)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<step {self.name}>"


@overload
def step(fn: Callable[P, R], /) -> Step[P, R]: ...
@overload
def step(
    *,
    name: str | None = ...,
    version: str | None = ...,
    outputs: int | None = ...,
    cache: bool = ...,
) -> Callable[[Callable[P, R]], Step[P, R]]: ...


def step(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    version: str | None = None,
    outputs: int | None = None,
    cache: bool = True,
) -> Any:
    """Declare a pipeline step.

    A step's fingerprint is the hash of its source, its parameters and its inputs'
    content hashes; a step whose fingerprint was computed before is a cache hit and
    is not run again. Bump ``version`` when the step's behaviour changes through code
    it calls rather than its own source.

    Example:
        @shipyard.step
        def split(df: pd.DataFrame, test_size: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame]:
            ...
    """

    def wrap(f: Callable[P, R]) -> Step[P, R]:
        return Step(f, name=name, version=version, outputs=outputs, cache=cache)

    return wrap(fn) if fn is not None else wrap


def _count_outputs(fn: Callable[..., Any]) -> int:
    try:
        hint = typing.get_type_hints(fn).get("return")
    except Exception:  # unresolvable annotations: treat as one output
        return 1
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if args and args[-1] is not Ellipsis:
            return len(args)
    return 1


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list | tuple):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False
