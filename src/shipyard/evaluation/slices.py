"""Which rows form each slice: the values of a categorical feature, or bins of a numeric one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shipyard.errors import EvaluationError

MISSING = "(missing)"
OTHER = "(other)"


@dataclass(frozen=True)
class SliceSpec:
    """How to slice by one feature.

    Args:
        feature: the column to slice by (it need not be a model input).
        bins: numeric features with more than ``max_categories`` distinct values are cut
            into this many quantile bins (equal row counts, ties permitting).
        max_categories: categorical features keep their most frequent values, the rest
            pooled as ``(other)``.
    """

    feature: str
    bins: int = 4
    max_categories: int = 12


@dataclass(frozen=True, eq=False)
class SliceGroup:
    """One slice: its label, and a boolean mask over the evaluation rows."""

    value: str
    mask: np.ndarray


def as_spec(item: str | SliceSpec) -> SliceSpec:
    return item if isinstance(item, SliceSpec) else SliceSpec(str(item))


def slice_kind(column: pd.Series, spec: SliceSpec) -> str:
    """``numeric`` when the column is cut into bins, else ``categorical``."""
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    return "numeric" if numeric and column.nunique() > spec.max_categories else "categorical"


def slice_groups(frame: pd.DataFrame, spec: SliceSpec) -> tuple[str, list[SliceGroup]]:
    """The kind of slicing used and the groups, in display order.

    Raises:
        EvaluationError: ``spec.feature`` is not a column of ``frame``.
    """
    if spec.feature not in frame.columns:
        raise EvaluationError(
            f"slice feature '{spec.feature}' is not a column of the evaluation data",
            hint=f"choose one of {sorted(map(str, frame.columns))[:20]}",
        )
    column = frame[spec.feature]
    kind = slice_kind(column, spec)
    groups = (
        _numeric_groups(column, spec) if kind == "numeric" else _categorical_groups(column, spec)
    )
    missing = column.isna().to_numpy()
    if missing.any():
        groups.append(SliceGroup(MISSING, missing))
    return kind, [g for g in groups if g.mask.any()]


def _numeric_groups(column: pd.Series, spec: SliceSpec) -> list[SliceGroup]:
    values = column.astype(float)
    cut = pd.qcut(values, q=spec.bins, duplicates="drop")
    groups = []
    for i, interval in enumerate(cut.cat.categories):
        mask = (cut == interval).to_numpy()
        # qcut nudges the lowest edge below the minimum; show the minimum, closed.
        left = f"[{_short(values.min())}" if i == 0 else f"({_short(interval.left)}"
        groups.append(SliceGroup(f"{left}, {_short(interval.right)}]", mask))
    return groups


def _categorical_groups(column: pd.Series, spec: SliceSpec) -> list[SliceGroup]:
    counts = column.dropna().astype(str).value_counts()
    keep: Sequence[str] = list(counts.index[: spec.max_categories])
    as_text = column.astype(str).where(column.notna(), None)
    groups = [SliceGroup(value, (as_text == value).to_numpy()) for value in keep]
    rest = (as_text.notna() & ~as_text.isin(keep)).to_numpy()
    if rest.any():
        groups.append(SliceGroup(OTHER, rest))
    return groups


def _short(x: float) -> str:
    return f"{x:.4g}"
