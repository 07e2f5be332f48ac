"""A window of served rows: the columns of inputs and outputs that one drift check compares.

Events hold one request's batch each (``inputs``: name -> values); a window concatenates
them, in order, into one array per input and output. Strings stay object arrays,
numbers become float arrays (``None`` as NaN).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
