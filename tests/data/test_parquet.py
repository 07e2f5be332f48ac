from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from shipyard.data.parquet import read_parquet_bytes, to_parquet_bytes
from shipyard.errors import DataError


def _digest(df: pd.DataFrame) -> str:
    return hashlib.sha256(to_parquet_bytes(df)).hexdigest()


def test_same_frame_gives_same_bytes(frame: pd.DataFrame) -> None:
    assert to_parquet_bytes(frame) == to_parquet_bytes(frame.copy(deep=True))


def test_bytes_do_not_depend_on_index_attrs_or_memory_layout(frame: pd.DataFrame) -> None:
    shuffled_index = frame.set_axis(np.arange(len(frame))[::-1] * 3)
    with_attrs = frame.copy()
    with_attrs.attrs["source"] = "somewhere"
    # built from pieces: columns chunked and laid out differently in memory
    pieced = pd.concat([frame.iloc[:123], frame.iloc[123:300], frame.iloc[300:]])
    by_columns = pd.DataFrame({c: frame[c].to_numpy().copy() for c in frame.columns})
    expected = _digest(frame)
    for variant in (shuffled_index, with_attrs, pieced, by_columns):
        assert _digest(variant) == expected


def test_bytes_are_the_same_in_another_process_with_another_hash_seed(frame: pd.DataFrame) -> None:
    code = (
        "import sys, hashlib, numpy as np, pandas as pd\n"
        "from shipyard.data.parquet import to_parquet_bytes\n"
        "rng = np.random.default_rng(7); n = 500\n"
        "df = pd.DataFrame({'area': rng.lognormal(4, 0.5, n), 'rooms': rng.integers(1, 6, n),\n"
        "  'region': rng.choice(['north', 'south', 'east'], n, p=[0.5, 0.3, 0.2]),\n"
        "  'new': rng.random(n) < 0.2, 'price': rng.normal(300, 50, n)})\n"
        "print(hashlib.sha256(to_parquet_bytes(df)).hexdigest())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    )
    assert out.stdout.strip() == _digest(frame)


def test_different_rows_give_different_bytes(frame: pd.DataFrame) -> None:
    changed = frame.copy()
    changed.loc[3, "price"] += 1e-9
    assert _digest(changed) != _digest(frame)
    assert _digest(frame.iloc[::-1]) != _digest(frame)  # row order is content


def test_round_trip_keeps_values_and_dtypes() -> None:
    df = pd.DataFrame(
        {
            "f": [1.5, np.nan, -0.0],
            "i": np.array([1, 2, 3], dtype="int32"),
            "n": pd.array([1, None, 3], dtype="Int64"),
            "s": ["a", None, "c"],
            "c": pd.Categorical(["x", "y", "x"]),
            "b": [True, False, True],
            "t": pd.to_datetime(["2024-01-01", None, "2024-03-01"]),
        }
    )
    back = read_parquet_bytes(to_parquet_bytes(df))
    pd.testing.assert_frame_equal(back, df)


def test_named_index_levels_become_columns() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0]}, index=pd.Index([10, 20], name="id"))
    back = read_parquet_bytes(to_parquet_bytes(df))
    assert list(back.columns) == ["id", "x"]
    assert back["id"].tolist() == [10, 20]


@pytest.mark.parametrize(
    ("columns", "words"),
    [([0, "b"], "non-empty strings"), (["a", "a"], "unique"), (["", "b"], "non-empty strings")],
)
def test_column_names_that_cannot_be_kept_are_refused(columns: list, words: str) -> None:
    df = pd.DataFrame([[1, 2]], columns=columns)
    with pytest.raises(DataError, match=words):
        to_parquet_bytes(df)


def test_mixed_object_column_names_the_fix() -> None:
    df = pd.DataFrame({"m": pd.Series([1, "a", 2.5], dtype=object)})
    with pytest.raises(DataError, match="astype"):
        to_parquet_bytes(df)


def test_not_a_frame_is_refused() -> None:
    with pytest.raises(DataError, match="DataFrame"):
        to_parquet_bytes([[1, 2]])  # type: ignore[arg-type]


def test_unreadable_bytes_raise_data_error() -> None:
    with pytest.raises(DataError, match="not readable Parquet"):
        read_parquet_bytes(b"not parquet")
