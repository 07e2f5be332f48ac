"""How a behavioral test changes a column: small frozen perturbations, or any callable.

A perturbation takes the column of the rows under test (a ``pandas.Series``) and
returns the changed column, same index. The random ones carry their seed, so a test
checks the same rows the same way every run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, is_dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from shipyard.errors import ModelTestError

Perturbation = Callable[[pd.Series], pd.Series]


@dataclass(frozen=True)
class Add:
    """Add ``delta`` to every value (one more bathroom: ``Add(1)``)."""

    delta: float

    def __call__(self, column: pd.Series) -> pd.Series:
        # A whole delta keeps an integer column integer, as the model's signature expects.
        if pd.api.types.is_integer_dtype(column) and float(self.delta).is_integer():
            return column + int(self.delta)
        return column + self.delta


@dataclass(frozen=True)
class Scale:
    """Multiply every value by ``factor`` (10% larger: ``Scale(1.1)``)."""

    factor: float

    def __call__(self, column: pd.Series) -> pd.Series:
        return column * self.factor


@dataclass(frozen=True)
class SetTo:
    """Replace every value with ``value`` (another region: ``SetTo("SG")``)."""

    value: Any

    def __call__(self, column: pd.Series) -> pd.Series:
        return pd.Series([self.value] * len(column), index=column.index)


@dataclass(frozen=True)
class Noise:
    """Add Gaussian noise of standard deviation ``std`` (times ``|value|`` if relative)."""

    std: float
    relative: bool = False
    seed: int = 0

    def __call__(self, column: pd.Series) -> pd.Series:
        noise = np.random.default_rng(self.seed).normal(0.0, self.std, len(column))
        if self.relative:
            noise = noise * np.abs(column.to_numpy(dtype=float))
        return column + noise


@dataclass(frozen=True)
class Shuffle:
    """Permute the column's values among the rows under test (it should not matter)."""

    seed: int = 0

    def __call__(self, column: pd.Series) -> pd.Series:
        order = np.random.default_rng(self.seed).permutation(len(column))
        return pd.Series(column.to_numpy()[order], index=column.index, dtype=column.dtype)


@dataclass(frozen=True)
class ChangeCase:
    """Change the letter case of a text column (``"upper"``, ``"lower"``, ...)."""

    case: Literal["upper", "lower", "title", "swapcase"]

    def __call__(self, column: pd.Series) -> pd.Series:
        if not (pd.api.types.is_string_dtype(column) or column.dtype == object):
            raise ModelTestError(
                f"cannot change the case of column '{column.name}' of dtype {column.dtype}",
                hint="change case only on text columns",
            )
        return getattr(column.astype(str).str, self.case)()


def as_perturbation(change: Any) -> Perturbation:
    """A callable is used as is; any other value means "set the column to this value"."""
    return change if callable(change) else SetTo(change)


def describe(perturbation: Perturbation) -> str:
    """A short, readable name for a perturbation, for reports."""
    if is_dataclass(perturbation):
        return repr(perturbation)
    return getattr(perturbation, "__qualname__", repr(perturbation))
