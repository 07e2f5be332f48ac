"""The active step: where ``log_params``, ``log_metrics`` and ``log_artifact`` write.

A step's logging is buffered in memory and written in the one transaction that closes
the step, so every value is durable when its step ends and logging a value costs a
list append. Outside a step the calls write straight away to the run, when one is
active, and otherwise raise.
"""

from __future__ import annotations

import contextvars
import math
import mimetypes
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path
from typing import Any

from shipyard.errors import TrackingError
from shipyard.store.artifacts import ArtifactStore, safe_name
from shipyard.store.runs import ArtifactRecord, Metric

_MAX_KEY = 250


@dataclass
class StepContext:
    """What one executing step has logged so far."""

    run_id: str
    step: str | None
    artifacts: ArtifactStore
    project: Any = None  # shipyard.project.Project, when the step runs in-process
    params: dict[str, Any] = field(default_factory=dict)
    metrics: list[Metric] = field(default_factory=list)
    logged_artifacts: list[ArtifactRecord] = field(default_factory=list)
    reads: list[tuple[str, str]] = field(default_factory=list)
    scratch: list[Path] = field(default_factory=list)
    _counters: dict[str, int] = field(default_factory=dict)


_current: contextvars.ContextVar[StepContext | None] = contextvars.ContextVar(
    "shipyard_step", default=None
)


@contextmanager
def active(ctx: StepContext) -> Iterator[StepContext]:
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def current() -> StepContext:
    ctx = _current.get()
    if ctx is None:
        raise TrackingError(
            "no step is running",
            hint="call shipyard.log_params/log_metrics/log_artifact inside a @shipyard.step",
        )
    return ctx


def current_project() -> Any:
    """The project of the running step (for ``Dataset.snapshot`` inside a step)."""
    ctx = current()
    if ctx.project is None:
        raise TrackingError("this step runs out of process and has no project handle")
    return ctx.project


def log_params(params: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
    """Record parameters of the running step (JSON-serialisable values).

    Example:
        shipyard.log_params(alpha=0.5, max_depth=6)
    """
    ctx = current()
    for key, value in {**(params or {}), **kwargs}.items():
        ctx.params[_check_key(key)] = _jsonable(key, value)


def log_metrics(
    metrics: Mapping[str, float] | None = None, *, step: int | None = None, **kwargs: float
) -> None:
    """Record metric values of the running step; ``step`` orders a series (e.g. epochs).

    Without ``step``, each key's values are numbered 0, 1, 2, ... in call order.

    Example:
        for epoch in range(10):
            shipyard.log_metrics(loss=loss, step=epoch)
    """
    ctx = current()
    at = time.time()
    for key, value in {**(metrics or {}), **kwargs}.items():
        _check_key(key)
        if isinstance(value, bool) or not isinstance(value, Real):
            raise TrackingError(f"metric {key!r} has value {value!r}", hint="metrics are numbers")
        number = float(value)
        if math.isnan(number) or math.isinf(number):
            raise TrackingError(f"metric {key!r} is {number}", hint="log finite numbers only")
        index = step if step is not None else ctx._counters.get(key, 0)
        ctx._counters[key] = index + 1
        ctx.metrics.append(Metric(key, number, int(index), at))


def log_artifact(path: str | Path, name: str | None = None) -> str:
    """Store a file with the running step; returns its sha256 digest.

    Args:
        path: the local file to store.
        name: the name to show it under (default: the file's name). Names are
            relative paths; ``..``, absolute paths and NUL bytes are refused.
    """
    ctx = current()
    source = Path(path)
    shown = safe_name(name if name is not None else source.name)
    if not source.is_file():
        raise TrackingError(
            f"artifact {str(path)!r} is not a file", hint="pass the path of an existing file"
        )
    digest = ctx.artifacts.put_file(source)
    media_type, _ = mimetypes.guess_type(source.name)
    ctx.logged_artifacts.append(
        ArtifactRecord(shown, digest, source.stat().st_size, ctx.step, media_type)
    )
    return digest


def log_dataset(frame: Any, name: str, *, schema: Any = None) -> Any:
    """Snapshot a DataFrame as a versioned dataset of this run (Parquet, by content hash).

    Returns the ``shipyard.data.Dataset``; its digest is listed with the run.
    """
    from shipyard.data import Dataset

    ctx = current()
    dataset = Dataset.snapshot(frame, name, current_project(), schema=schema)
    ctx.reads.append((dataset.digest, "dataset"))
    return dataset


def scratch_dir(prefix: str = "scratch") -> Path:
    """A fresh directory for files the running step builds (a bundle, say).

    It lives under the project's ``.shipyard/tmp`` and is removed once the step's
    output has been stored.
    """
    import tempfile

    ctx = current()
    base = Path(current_project().root) / ".shipyard" / "tmp"
    base.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{safe_name(prefix)}-", dir=base))
    ctx.scratch.append(path)
    return path


def record_read(digest: str, kind: str = "dataset") -> None:
    """Note that the running step read a dataset or artifact (for lineage)."""
    ctx = _current.get()
    if ctx is not None:
        ctx.reads.append((digest, kind))


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not key or len(key) > _MAX_KEY or "\x00" in key:
        raise TrackingError(
            f"key {key!r} is not allowed",
            hint=f"use a non-empty string of at most {_MAX_KEY} characters",
        )
    return key


def _jsonable(key: str, value: Any) -> Any:
    import json

    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        value = value.item()
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise TrackingError(
            f"parameter {key!r} has value {value!r} of type {type(value).__name__}",
            hint="parameters are JSON values: numbers, strings, booleans, lists, dicts",
        ) from None
    return value
