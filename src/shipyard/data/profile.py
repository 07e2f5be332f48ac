"""Per-column statistics of a dataset: the reference that monitoring compares live data with.

Numeric columns keep moments, quantiles, a histogram and a bounded sample of raw
values; categorical columns keep frequencies. The histogram's bins are the contract
with monitoring: :meth:`ColumnProfile.bin_counts` puts new values into exactly the
same bins, so PSI or Jensen-Shannon divergence compare like with like.

Choices, and why:

- **Bin edges are reference quantiles** (``bins`` equal-frequency bins), not uniform
  widths: each bin then holds about the same share of the reference, so no reference
  bin is nearly empty (which makes PSI explode) and one outlier cannot squash the rest
  of the distribution into one bin. Ties merge edges, so a column may get fewer bins.
  A column with at most ``bins`` distinct values gets one bin per value instead (edges
  at the midpoints between them).
- Bins are ``[e[i], e[i+1])``, the last one closed; values below the first edge or
  above the last go to an underflow and an overflow bin, which are empty for the
  reference and are where unseen ranges show up live.
- ``std`` is the sample standard deviation (``ddof=1``), as ``pandas.Series.std``;
  quantiles interpolate linearly, as ``numpy.quantile`` and ``pandas.Series.quantile``.
- Nulls are NaN, None and NaT. ``±inf`` are values: they are counted and binned (into
  the under- and overflow bins), but moments, quantiles and the sample use finite
  values only.
- Categorical values are compared as strings (``str(value)``); the ``top`` most
  frequent are kept (ties broken by label) and the rest are counted together as other.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shipyard.errors import DataError

FORMAT = 1
QUANTILES: dict[str, float] = {
    "p01": 0.01,
    "p05": 0.05,
    "p25": 0.25,
    "p50": 0.50,
    "p75": 0.75,
    "p95": 0.95,
    "p99": 0.99,
}
OTHER = "(other)"

NUMERIC = "numeric"
CATEGORICAL = "categorical"
DATETIME = "datetime"
UNPROFILED = "other"


@dataclass(frozen=True)
class ColumnProfile:
    """Statistics of one column. Which fields are filled depends on ``kind``.

    ``counts`` is the reference histogram in the layout of :attr:`bin_labels`:
    numeric ``[underflow, bin 1 .. bin k, overflow]`` over ``edges``; categorical
    ``[category 1 .. category n, other]`` over ``categories``.
    """

    name: str
    kind: str
    dtype: str
    count: int
    nulls: int
    unique: int | None = None
    mean: float | None = None
    std: float | None = None
    minimum: float | str | None = None
    maximum: float | str | None = None
    quantiles: Mapping[str, float] = field(default_factory=dict)
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()
    counts: tuple[int, ...] = ()
    sample: tuple[float, ...] = ()

    @functools.cached_property
    def sorted_sample(self) -> np.ndarray:
        """:attr:`sample` as a sorted float array, made once: every drift check reads it."""
        return np.sort(np.asarray(self.sample, dtype=float))

    @functools.cached_property
    def bin_labels(self) -> list[str]:
        """A label per entry of :attr:`counts` and of :meth:`bin_counts`."""
        if self.kind == CATEGORICAL:
            return [*self.categories, OTHER]
        if self.kind != NUMERIC:
            return []
        if not self.edges:
            return ["(all)"]
        e = [f"{v:.6g}" for v in self.edges]
        inner = [f"[{a}, {b})" for a, b in itertools.pairwise(e)]
        inner[-1] = inner[-1][:-1] + "]"
        return [f"< {e[0]}", *inner, f"> {e[-1]}"]

    def bin_counts(self, values: Any) -> np.ndarray:
        """Count new values into this profile's bins (nulls are not counted).

        Args:
            values: a sequence, array or Series of live values for this column.

        Returns:
            int64 counts aligned with :attr:`counts` and :attr:`bin_labels`.

        Raises:
            DataError: when the column has no bins (datetime, unprofiled) or the values
                are not numbers for a numeric column.
        """
        series = values if isinstance(values, pd.Series) else pd.Series(values)
        if self.kind == NUMERIC:
            try:
                x = series.to_numpy(dtype="float64", na_value=np.nan)
            except (TypeError, ValueError):
                raise DataError(
                    f"column '{self.name}' is numeric but the values given are not numbers "
                    f"(dtype {series.dtype})",
                    hint="pass the column's numeric values",
                ) from None
            return _count_bins(x[~np.isnan(x)], self.edges)
        if self.kind == CATEGORICAL:
            codes = pd.Index(self.categories, dtype=object).get_indexer(_labels(series))
            other = len(self.categories)
            return np.bincount(np.where(codes < 0, other, codes), minlength=other + 1)
        raise DataError(
            f"column '{self.name}' ({self.kind}) has no histogram to bin values into",
            hint="only numeric and categorical columns are binned",
        )

    def to_dict(self, *, sample: bool = True) -> dict[str, Any]:
        """A JSON-safe dict (no NaN or infinities); empty fields are left out."""
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "dtype": self.dtype,
            "count": self.count,
            "nulls": self.nulls,
        }
        for key in ("unique", "mean", "std", "minimum", "maximum"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.quantiles:
            out["quantiles"] = dict(self.quantiles)
        for key in ("edges", "categories", "counts"):
            if getattr(self, key):
                out[key] = list(getattr(self, key))
        if sample and self.sample:
            out["sample"] = list(self.sample)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnProfile:
        return cls(
            name=str(data["name"]),
            kind=str(data["kind"]),
            dtype=str(data["dtype"]),
            count=int(data["count"]),
            nulls=int(data["nulls"]),
            unique=data.get("unique"),
            mean=data.get("mean"),
            std=data.get("std"),
            minimum=data.get("minimum"),
            maximum=data.get("maximum"),
            quantiles={str(k): float(v) for k, v in data.get("quantiles", {}).items()},
            edges=tuple(float(v) for v in data.get("edges", ())),
            categories=tuple(str(v) for v in data.get("categories", ())),
            counts=tuple(int(v) for v in data.get("counts", ())),
            sample=tuple(float(v) for v in data.get("sample", ())),
        )


@dataclass(frozen=True)
class Profile:
    """The profile of a whole frame: its row count and one ColumnProfile per column."""

    rows: int
    columns: tuple[ColumnProfile, ...]

    def __getitem__(self, name: str) -> ColumnProfile:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"no column {name!r} in the profile; it has {self.names}")

    def __iter__(self) -> Iterator[ColumnProfile]:
        return iter(self.columns)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def to_dict(self, *, sample: bool = True) -> dict[str, Any]:
        """A JSON-safe dict; ``sample=False`` leaves out the raw reference samples."""
        return {
            "format": FORMAT,
            "rows": self.rows,
            "columns": [c.to_dict(sample=sample) for c in self.columns],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        """Read a dict written by :meth:`to_dict`.

        Raises:
            DataError: when the dict is not a profile or has a newer format.
        """
        try:
            if int(data.get("format", FORMAT)) > FORMAT:
                raise DataError(
                    f"profile format {data['format']} is newer than this Shipyard reads ({FORMAT})",
                    hint="upgrade shipyard",
                )
            return cls(
                rows=int(data["rows"]),
                columns=tuple(ColumnProfile.from_dict(c) for c in data["columns"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DataError(
                f"not a dataset profile: {type(exc).__name__}: {exc}",
                hint="profiles are written by Profile.to_dict()",
            ) from None


def profile_frame(
    df: pd.DataFrame,
    *,
    bins: int = 20,
    top: int = 50,
    sample_size: int = 5_000,
    seed: int = 0,
) -> Profile:
    """Profile every column of a frame.

    Args:
        df: the data.
        bins: the most histogram bins per numeric column (quantile edges).
        top: the most categories kept per categorical column; the rest count as other.
        sample_size: the most raw finite values kept per numeric column (for KS tests).
        seed: seeds the sample, so one frame always gives one profile.

    Example:
        >>> profile = profile_frame(df)
        >>> profile["area"].quantiles["p50"]
    """
    if bins < 1 or top < 1 or sample_size < 0:
        raise DataError(
            f"bins={bins}, top={top}, sample_size={sample_size}: bins and top must be "
            "at least 1, sample_size at least 0"
        )
    columns = []
    for name in df.columns:
        series = df[name]
        kind = _kind(series)
        if kind == NUMERIC:
            columns.append(_numeric(str(name), series, bins, sample_size, seed))
        elif kind == CATEGORICAL:
            columns.append(_categorical(str(name), series, top))
        else:
            columns.append(_other(str(name), series, kind))
    return Profile(rows=len(df), columns=tuple(columns))


def _kind(series: pd.Series) -> str:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return CATEGORICAL
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        return NUMERIC
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return DATETIME
    if (
        pd.api.types.is_string_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(dtype)
    ):
        return CATEGORICAL
    return UNPROFILED


def _numeric(name: str, series: pd.Series, bins: int, sample_size: int, seed: int) -> ColumnProfile:
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    present = values[~np.isnan(values)]
    finite = np.sort(present[np.isfinite(present)])
    n = finite.size
    stats: dict[str, Any] = {}
    if n:
        distinct = finite[np.r_[True, finite[1:] != finite[:-1]]]
        quantiles = np.quantile(finite, list(QUANTILES.values()))
        stats = {
            "unique": int(distinct.size),
            "mean": _finite(finite.mean()),
            "std": _finite(finite.std(ddof=1)) if n > 1 else None,
            "minimum": float(finite[0]),
            "maximum": float(finite[-1]),
            "quantiles": dict(zip(QUANTILES, map(float, quantiles), strict=True)),
            "edges": _edges(finite, distinct, bins),
        }
        if sample_size:
            stats["sample"] = tuple(map(float, _sample(finite, sample_size, seed)))
    edges = stats.get("edges", ())
    return ColumnProfile(
        name=name,
        kind=NUMERIC,
        dtype=str(series.dtype),
        count=int(present.size),
        nulls=int(values.size - present.size),
        counts=tuple(int(c) for c in _count_bins(present, edges)),
        **stats,
    )


def _edges(sorted_values: np.ndarray, distinct: np.ndarray, bins: int) -> tuple[float, ...]:
    if distinct.size == 1:
        return (float(distinct[0]), float(distinct[0]))
    if distinct.size <= bins:
        mids = (distinct[:-1] + distinct[1:]) / 2
        return tuple(map(float, np.concatenate([distinct[:1], mids, distinct[-1:]])))
    edges = np.unique(np.quantile(sorted_values, np.linspace(0.0, 1.0, bins + 1)))
    return tuple(map(float, edges))


def _count_bins(x: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Counts of ``x`` (no NaN) over ``edges`` with under- and overflow bins."""
    if not len(edges):
        return np.array([x.size], dtype=np.int64)
    e = np.asarray(edges, dtype="float64")
    last = e.size - 1
    index = np.searchsorted(e, x, side="right")
    index[x == e[-1]] = last  # the last bin is closed on the right
    return np.bincount(index, minlength=last + 2).astype(np.int64)


def _sample(sorted_values: np.ndarray, size: int, seed: int) -> np.ndarray:
    if sorted_values.size <= size:
        return sorted_values
    picked = np.random.default_rng(seed).choice(sorted_values.size, size=size, replace=False)
    return sorted_values[np.sort(picked)]


def _labels(series: pd.Series) -> pd.Series:
    return series.dropna().astype(str)


def _categorical(name: str, series: pd.Series, top: int) -> ColumnProfile:
    labels = _labels(series)
    freq = labels.value_counts(sort=False)
    keys = freq.index.to_numpy(dtype=str)
    counts = freq.to_numpy(dtype=np.int64)
    order = np.lexsort((keys, -counts))  # most frequent first, ties by label
    kept = order[:top]
    return ColumnProfile(
        name=name,
        kind=CATEGORICAL,
        dtype=str(series.dtype),
        count=int(labels.size),
        nulls=int(series.size - labels.size),
        unique=int(keys.size),
        categories=tuple(str(k) for k in keys[kept]),
        counts=(*map(int, counts[kept]), int(counts[order[top:]].sum())),
    )


def _other(name: str, series: pd.Series, kind: str) -> ColumnProfile:
    present = series.dropna()
    bounds: dict[str, Any] = {}
    if kind == DATETIME and present.size:
        bounds = {"minimum": present.min().isoformat(), "maximum": present.max().isoformat()}
    return ColumnProfile(
        name=name,
        kind=kind,
        dtype=str(series.dtype),
        count=int(present.size),
        nulls=int(series.size - present.size),
        **bounds,
    )


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
