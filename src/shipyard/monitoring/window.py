"""A window of served rows: the columns of inputs and outputs that one drift check compares.

Events hold one request's batch each (``inputs``: name -> values); a window concatenates
them, in order, into one array per input and output. Strings stay object arrays,
numbers become float arrays (``None`` as NaN).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from shipyard.store.events import EventRecord


@dataclass(frozen=True)
class Window:
    """The rows of one window: columns of inputs and outputs, and where they came from."""

    inputs: Mapping[str, np.ndarray]
    outputs: Mapping[str, np.ndarray]
    events: int
    rows: int
    start: float | None = None
    end: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"events": self.events, "rows": self.rows, "start": self.start, "end": self.end}


def window_from_events(events: Sequence[EventRecord]) -> Window:
    """Concatenate the inputs and outputs of events (each a batch of rows) into one window."""
    inputs: dict[str, list[Any]] = {}
    outputs: dict[str, list[Any]] = {}
    rows = 0
    for event in events:
        n = _extend(inputs, event.inputs)
        _extend(outputs, event.outputs)
        rows += n
    return Window(
        inputs={k: column_array(v) for k, v in inputs.items()},
        outputs={k: column_array(v) for k, v in outputs.items()},
        events=len(events),
        rows=rows,
        start=events[0].at if events else None,
        end=events[-1].at if events else None,
    )


def window_from_columns(
    inputs: Mapping[str, Any], outputs: Mapping[str, Any] | None = None
) -> Window:
    """A window from columns already in memory (a DataFrame works: ``dict(df)``)."""
    ins = {str(k): column_array(v) for k, v in dict(inputs).items()}
    outs = {str(k): column_array(v) for k, v in dict(outputs or {}).items()}
    rows = len(next(iter(ins.values()))) if ins else 0
    return Window(ins, outs, events=rows, rows=rows)


def _extend(columns: dict[str, list[Any]], values: Mapping[str, Any]) -> int:
    n = 0
    for name, column in values.items():
        seq = column if isinstance(column, list) else list(np.asarray(column).tolist())
        columns.setdefault(name, []).extend(seq)
        n = max(n, len(seq))
    return n


def column_array(values: Any) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return values
    if hasattr(values, "to_numpy"):
        return values.to_numpy()
    if values and any(isinstance(v, str) for v in values[:100]):
        return np.asarray(values, dtype=object)
    try:
        return np.asarray([np.nan if v is None else v for v in values], dtype=float)
    except (TypeError, ValueError):
        return np.asarray(values, dtype=object)


# ---------------------------------------------------------------------- live batches
@dataclass(frozen=True)
class ServedColumns:
    """One batch of served predictions of one endpoint and model version, as columns.

    What the event sink's observers (metrics, the drift watcher) receive: the rows of
    every event in the batch concatenated once per input and output, so an observer
    works per column, not per event. ``starts[i]`` is the first row of event ``i`` and
    ``times[i]`` its arrival time.
    """

    endpoint: str
    model_name: str
    model_version: int
    inputs: Mapping[str, np.ndarray]
    outputs: Mapping[str, np.ndarray]
    starts: np.ndarray
    times: np.ndarray
    rows: int

    @property
    def events(self) -> int:
        return int(self.starts.size)

    @property
    def model(self) -> str:
        return f"{self.model_name}:{self.model_version}"

    def split(self, row: int) -> tuple[ServedColumns, ServedColumns]:
        """The rows before ``row`` and from ``row`` on (an event is where its first row is)."""
        cut = int(np.searchsorted(self.starts, row, side="left"))

        def part(columns: Mapping[str, np.ndarray], head: bool) -> dict[str, np.ndarray]:
            # a column without one value per row (ragged requests) stays with the head
            return {
                name: (values[:row] if head else values[row:])
                if len(values) == self.rows
                else (values if head else values[:0])
                for name, values in columns.items()
            }

        head = ServedColumns(
            self.endpoint, self.model_name, self.model_version, part(self.inputs, True),
            part(self.outputs, True), self.starts[:cut], self.times[:cut], row,
        )  # fmt: skip
        tail = ServedColumns(
            self.endpoint, self.model_name, self.model_version, part(self.inputs, False),
            part(self.outputs, False), self.starts[cut:] - row, self.times[cut:], self.rows - row,
        )  # fmt: skip
        return head, tail


class _Served(Protocol):
    time: float
    endpoint: str
    model_name: str
    model_version: int
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]


def served_columns(events: Sequence[_Served]) -> list[ServedColumns]:
    """Group answered, non-shadow events by endpoint and model version, as columns.

    Failed requests (status 400 and up) and shadow predictions are left out: they count
    for error rates in the store, but their values are not what the endpoint served.
    """
    groups: dict[tuple[str, str, int], list[_Served]] = {}
    for event in events:
        if getattr(event, "shadow", False) or getattr(event, "status", 200) >= 400:
            continue
        key = (event.endpoint, event.model_name, int(event.model_version))
        group = groups.get(key)
        if group is None:
            groups[key] = [event]
        else:
            group.append(event)
    return [_columns(key, group) for key, group in groups.items()]


def _columns(key: tuple[str, str, int], events: list[_Served]) -> ServedColumns:
    inputs: dict[str, list[Any]] = {}
    outputs: dict[str, list[Any]] = {}
    for event in events:
        for name, values in event.inputs.items():
            inputs.setdefault(name, []).append(values)
        for name, values in event.outputs.items():
            outputs.setdefault(name, []).append(values)
    sizes = [_rows_of(event.inputs) for event in events]
    starts = np.zeros(len(events), dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    return ServedColumns(
        *key,
        inputs={name: concat_values(parts) for name, parts in inputs.items()},
        outputs={name: concat_values(parts) for name, parts in outputs.items()},
        starts=starts,
        times=np.fromiter((event.time for event in events), float, len(events)),
        rows=int(sum(sizes)),
    )


def _rows_of(columns: Mapping[str, Any]) -> int:
    first = next(iter(columns.values()), None)
    if isinstance(first, list):  # values back from JSON (the monitoring worker)
        return len(first)
    return len(first) if first is not None and np.ndim(first) else 1


def concat_values(parts: Sequence[Any]) -> np.ndarray:
    """Per-request arrays end to end; scalars or ragged shapes are made to fit."""
    try:
        if isinstance(parts[0], list):  # from JSON: one list is faster than many arrays
            return np.array([value for part in parts for value in part])
        return np.concatenate(parts)
    except ValueError:  # scalars, or ragged shapes across requests
        arrays = [np.asarray(p).reshape(-1) if np.ndim(p) <= 1 else np.asarray(p) for p in parts]
        first = arrays[0].shape[1:]
        return np.concatenate([a for a in arrays if a.shape[1:] == first])
