"""Failing examples as plain, JSON-able dicts: what every check and test result lists."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd


def plain(value: Any) -> Any:
    """``value`` with numpy and pandas scalars made Python ones; NaN becomes None.

    Results are written as JSON (``--json``, the registry's record of a version's
    tests), and JSON has no NaN, no numpy types and no timestamps.
    """
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return value.total_seconds()
    return value


def row_dicts(frame: pd.DataFrame, positions: Sequence[int] | np.ndarray) -> list[dict[str, Any]]:
    """The rows of ``frame`` at integer ``positions``, each as ``{column: value}``."""
    taken = frame.iloc[np.asarray(positions, dtype=int)]
    return [{str(k): plain(v) for k, v in row.items()} for row in taken.to_dict("records")]


def prediction_at(predictions: np.ndarray, position: int) -> Any:
    """One row's prediction: a scalar, or a list for models with several outputs."""
    return plain(predictions[position])
