"""Deterministic Parquet encoding of DataFrames: the same frame gives the same bytes.

A dataset is named by the sha256 of these bytes, so every writer option that could
vary is pinned here: no index (an unnamed index is row labels, not data), no
``DataFrame.attrs``, one contiguous chunk per column, fixed row-group and page sizes,
zstd at a fixed level. The bytes still name the pyarrow and pandas versions that wrote
them (Parquet's ``created_by`` and the pandas schema metadata), so the digest is stable
for one environment, not across library upgrades.
"""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from shipyard.errors import DataError

ROW_GROUP_SIZE = 1 << 20
DATA_PAGE_SIZE = 1 << 20
COMPRESSION = "zstd"
COMPRESSION_LEVEL = 3


def to_parquet_bytes(df: pd.DataFrame) -> bytes:
    """Encode a frame as Parquet, deterministically.

    Named index levels become leading columns (as ``reset_index()`` would make them);
    an unnamed index is dropped.

    Raises:
        DataError: for column names that are not unique non-empty strings, or values
            Parquet cannot hold.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(
            f"expected a pandas DataFrame, got {type(df).__name__}",
            hint="build one with pandas.DataFrame(...)",
        )
    if any(name is not None for name in df.index.names):
        df = df.reset_index(level=[n for n in df.index.names if n is not None])
    _check_columns(df)
    frame = df.copy(deep=False)
    frame.attrs = {}
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False).combine_chunks()
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise DataError(
            f"the frame cannot be written as Parquet: {exc}",
            hint="give each column one type (cast mixed object columns with .astype(str))",
        ) from None
    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        row_group_size=ROW_GROUP_SIZE,
        data_page_size=DATA_PAGE_SIZE,
        compression=COMPRESSION,
        compression_level=COMPRESSION_LEVEL,
        write_statistics=True,
    )
    return sink.getvalue()


def read_parquet_bytes(data: bytes) -> pd.DataFrame:
    """Decode bytes written by :func:`to_parquet_bytes` (or any Parquet) to a frame."""
    try:
        return pq.read_table(pa.BufferReader(data)).to_pandas()
    except pa.ArrowException as exc:
        raise DataError(f"the bytes are not readable Parquet: {exc}") from None


def _check_columns(df: pd.DataFrame) -> None:
    """Refuse column labels that Parquet and JSON profiles cannot keep exactly.

    Raises:
        DataError: naming the offending labels.
    """
    bad = [c for c in df.columns if not isinstance(c, str) or not c]
    if bad:
        raise DataError(
            f"column names must be non-empty strings; got {bad[:5]!r}",
            hint="rename them, e.g. df.columns = [str(c) for c in df.columns]",
        )
    dupes = sorted(set(df.columns[df.columns.duplicated()]))
    if dupes:
        raise DataError(
            f"column names must be unique; {dupes[:5]!r} appear more than once",
            hint="rename or drop the duplicates",
        )
