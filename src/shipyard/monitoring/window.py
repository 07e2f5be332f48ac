"""A window of served rows: the columns of inputs and outputs that one drift check compares.

Events hold one request's batch each (``inputs``: name -> values); a window concatenates
them, in order, into one array per input and output. Strings stay object arrays,
numbers become float arrays (``None`` as NaN).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

from shipyard.store.events import EVENT_COLUMNS, EventRecord


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
            self.endpoint,
            self.model_name,
            self.model_version,
            part(self.inputs, True),
            part(self.outputs, True),
            self.starts[:cut],
            self.times[:cut],
            row,
        )
        tail = ServedColumns(
            self.endpoint,
            self.model_name,
            self.model_version,
            part(self.inputs, False),
            part(self.outputs, False),
            self.starts[cut:] - row,
            self.times[cut:],
            self.rows - row,
        )
        return head, tail


_E = TypeVar("_E")


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

    def key(event: _Served) -> tuple[str, str, int] | None:
        if getattr(event, "shadow", False) or getattr(event, "status", 200) >= 400:
            return None
        return (event.endpoint, event.model_name, int(event.model_version))

    return [
        _columns(k, [e.inputs for e in group], [e.outputs for e in group], [e.time for e in group])
        for k, group in _grouped(events, key).items()
    ]


# where served_values puts each field
_AT, _ENDPOINT, _MODEL, _VERSION, _INPUTS, _OUTPUTS, _STATUS, _SHADOW = map(
    EVENT_COLUMNS.index,
    ("at", "endpoint", "model_name", "model_version", "inputs", "outputs", "status", "shadow"),
)
_model_of = operator.itemgetter(_ENDPOINT, _MODEL, _VERSION)


def served_columns_of_values(values: Sequence[Sequence[Any]]) -> list[ServedColumns]:
    """:func:`served_columns` of events made stored values (``store.events.served_values``,
    from events decoded from JSON: values as lists, strings as ``str``, NaN as ``None``):
    the monitoring worker's input, read by position, with no field looked up twice."""
    served = [v for v in values if not v[_SHADOW] and v[_STATUS] < 400]
    return [
        _columns(
            k,
            [v[_INPUTS] for v in group],
            [v[_OUTPUTS] for v in group],
            [v[_AT] for v in group],
            cast=_from_json,
        )
        for k, group in _grouped(served, _model_of).items()
    ]


def _grouped(
    events: Iterable[_E], key: Callable[[_E], tuple[str, str, int] | None]
) -> dict[tuple[str, str, int], list[_E]]:
    """Events by ``key`` (endpoint, model, version), in order; those it gives None left out."""
    groups: dict[tuple[str, str, int], list[_E]] = {}
    for event in events:
        k = key(event)
        if k is None:
            continue
        group = groups.get(k)
        if group is None:
            groups[k] = [event]
        else:
            group.append(event)
    return groups


def _columns(
    key: tuple[str, str, int],
    inputs: list[Mapping[str, Any]],
    outputs: list[Mapping[str, Any]],
    times: list[float],
    cast: Callable[[np.ndarray], np.ndarray] | None = None,
) -> ServedColumns:
    def concat(per_event: list[Mapping[str, Any]]) -> tuple[dict[str, np.ndarray], int | None]:
        """The columns, and each event's rows when every event has as many (else None)."""
        if cast is not None:  # values from JSON: lists
            uniform = _uniform_columns(per_event)
            if uniform is not None:
                arrays, rows_each = uniform
                return {name: cast(values) for name, values in arrays.items()}, rows_each
        parts: dict[str, list[Any]] = {}
        for columns in per_event:
            for name, values in columns.items():
                part = parts.get(name)
                if part is None:
                    parts[name] = [values]
                else:
                    part.append(values)
        joined = {name: concat_values(p) for name, p in parts.items()}
        if cast is not None:
            joined = {name: cast(values) for name, values in joined.items()}
        return joined, None

    in_columns, rows_each = concat(inputs)
    if rows_each is None:
        sizes = np.array([_rows_of(columns) for columns in inputs], dtype=np.int64)
    else:
        sizes = np.full(len(inputs), rows_each, dtype=np.int64)
    starts = np.zeros(len(sizes), dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    return ServedColumns(
        *key,
        inputs=in_columns,
        outputs=concat(outputs)[0],
        starts=starts,
        times=np.array(times, dtype=float),
        rows=int(sizes.sum()),
    )


def _uniform_columns(
    per_event: list[Mapping[str, Any]],
) -> tuple[dict[str, np.ndarray], int] | None:
    """Events' values from JSON as columns, one list per name read in one pass, if every
    event holds the same names and each name as many rows in every event (requests of
    one row: the usual case); with its rows per event. None: the general path."""
    if not per_event:
        return None
    first = per_event[0]
    names = len(first)
    if not names or any(len(columns) != names for columns in per_event):
        return None
    out: dict[str, np.ndarray] = {}
    rows = -1
    for name in first:
        try:
            column = np.array([columns[name] for columns in per_event])
        except (KeyError, ValueError):  # a name missing from an event; ragged rows
            return None
        if column.ndim < 2:  # not a list of rows per event
            return None
        if rows < 0:
            rows = column.shape[1]
        out[name] = column.reshape(-1, *column.shape[2:])
    return out, rows


def _from_json(values: np.ndarray) -> np.ndarray:
    # JSON brings strings back as str (numpy "U": the server had objects) and numbers
    # with nulls as None (an object array; None becomes NaN, as in the server)
    if values.dtype.kind == "U":
        return values.astype(object)
    if values.dtype.kind == "O":
        try:
            return values.astype(float)
        except (TypeError, ValueError):
            return values
    return values


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
