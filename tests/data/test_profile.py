from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from shipyard.data.profile import QUANTILES, ColumnProfile, Profile, profile_frame
from shipyard.errors import DataError


def test_numeric_statistics_match_pandas(frame: pd.DataFrame) -> None:
    df = frame.copy()
    df.loc[::9, "price"] = np.nan
    col = profile_frame(df)["price"]
    s = df["price"]
    assert col.kind == "numeric"
    assert col.count == s.count() and col.nulls == s.isna().sum()
    assert col.mean == pytest.approx(s.mean(), rel=1e-12)
    assert col.std == pytest.approx(s.std(), rel=1e-12)  # ddof=1, as pandas
    assert col.minimum == s.min() and col.maximum == s.max()
    for key, q in QUANTILES.items():
        assert col.quantiles[key] == pytest.approx(s.quantile(q), rel=1e-12)
    assert col.unique == s.nunique()


def test_reference_counts_are_what_bin_counts_gives_for_the_reference(frame: pd.DataFrame) -> None:
    profile = profile_frame(frame)
    for name in ("area", "price", "rooms"):
        col = profile[name]
        assert tuple(col.bin_counts(frame[name])) == col.counts
        assert sum(col.counts) == col.count
        assert col.counts[0] == col.counts[-1] == 0  # no reference value under- or overflows
        assert len(col.counts) == len(col.edges) + 1 == len(col.bin_labels)


def test_quantile_edges_give_bins_of_about_equal_reference_mass() -> None:
    values = np.random.default_rng(0).lognormal(0, 1, 10_000)  # skewed: uniform bins would not
    col = profile_frame(pd.DataFrame({"x": values}), bins=10)["x"]
    inner = np.array(col.counts[1:-1])
    assert len(inner) == 10
    assert inner.min() >= 999 and inner.max() <= 1001


def test_bin_counts_uses_half_open_bins_with_a_closed_last_bin_and_overflow() -> None:
    col = profile_frame(pd.DataFrame({"x": np.arange(100.0)}), bins=4)["x"]
    lo, hi = col.edges[0], col.edges[-1]
    counts = col.bin_counts([lo - 1, lo, col.edges[1], hi, hi + 1, np.nan, None])
    assert counts.tolist() == [1, 1, 1, 0, 1, 1]
    assert counts.dtype == np.int64


def test_few_distinct_values_get_one_bin_each() -> None:
    col = profile_frame(pd.DataFrame({"k": [0, 1, 1, 2, 2, 2, 5]}))["k"]
    assert col.edges == (0.0, 0.5, 1.5, 3.5, 5.0)
    assert col.counts == (0, 1, 2, 3, 1, 0)
    assert col.bin_counts([5, 5, 4, 7]).tolist() == [0, 0, 0, 0, 3, 1]


def test_constant_column_has_one_bin_and_no_std() -> None:
    col = profile_frame(pd.DataFrame({"c": [3.0]}))["c"]
    assert col.edges == (3.0, 3.0)
    assert col.counts == (0, 1, 0)
    assert col.std is None
    assert col.bin_counts([2.0, 3.0, 4.0]).tolist() == [1, 1, 1]


def test_all_null_numeric_column_counts_nulls_only() -> None:
    col = profile_frame(pd.DataFrame({"n": [np.nan, np.nan]}))["n"]
    assert (col.count, col.nulls, col.mean, col.edges) == (0, 2, None, ())
    assert col.bin_counts([1.0, 2.0]).tolist() == [2]


def test_infinities_are_binned_but_left_out_of_moments() -> None:
    col = profile_frame(pd.DataFrame({"x": [1.0, 2.0, 3.0, np.inf, -np.inf]}))["x"]
    assert col.count == 5
    assert col.mean == 2.0 and col.maximum == 3.0
    assert col.counts[0] == 1 and col.counts[-1] == 1


def test_nullable_integers_are_numeric() -> None:
    s = pd.Series(pd.array([1, None, 3, 4], dtype="Int64"))
    col = profile_frame(pd.DataFrame({"n": s}))["n"]
    assert (col.kind, col.count, col.nulls, col.mean) == ("numeric", 3, 1, pytest.approx(8 / 3))


def test_sample_is_bounded_seeded_and_drawn_from_the_values() -> None:
    values = np.random.default_rng(1).normal(size=20_000)
    df = pd.DataFrame({"x": values})
    a = profile_frame(df, sample_size=1000)["x"]
    assert len(a.sample) == 1000
    assert a.sample == profile_frame(df, sample_size=1000)["x"].sample
    assert a.sample != profile_frame(df, sample_size=1000, seed=2)["x"].sample
    assert set(a.sample) <= set(values)
    small = profile_frame(pd.DataFrame({"x": [3.0, 1.0, 2.0]}))["x"]
    assert small.sample == (1.0, 2.0, 3.0)


def test_categorical_frequencies_keep_the_top_and_count_the_rest_as_other() -> None:
    s = pd.Series(["a"] * 5 + ["b"] * 3 + ["c"] * 3 + ["d"] + [None] * 2)
    col = profile_frame(pd.DataFrame({"s": s}), top=2)["s"]
    assert col.kind == "categorical"
    assert (col.count, col.nulls, col.unique) == (12, 2, 4)
    assert col.categories == ("a", "b")  # b and c tie: broken by label
    assert col.counts == (5, 3, 4)
    assert col.bin_labels == ["a", "b", "(other)"]
    assert col.bin_counts(["a", "c", "zzz", None, "b"]).tolist() == [1, 1, 2]


def test_booleans_and_pandas_categoricals_are_categorical(frame: pd.DataFrame) -> None:
    df = frame.assign(region=frame["region"].astype("category"))
    profile = profile_frame(df)
    assert profile["new"].categories == ("False", "True")
    assert profile["new"].bin_counts([True, True, False]).tolist() == [1, 2, 0]
    expected = df["region"].value_counts()
    region = profile["region"]
    assert dict(zip(region.categories, region.counts, strict=False)) == expected.to_dict()


def test_datetimes_keep_bounds_and_refuse_binning() -> None:
    df = pd.DataFrame({"t": pd.to_datetime(["2024-01-02", None, "2024-01-01"])})
    col = profile_frame(df)["t"]
    assert (col.kind, col.count, col.nulls) == ("datetime", 2, 1)
    assert col.minimum == "2024-01-01T00:00:00"
    with pytest.raises(DataError, match="no histogram"):
        col.bin_counts(df["t"])


def test_numeric_bin_counts_refuses_strings(frame: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="not numbers"):
        profile_frame(frame)["price"].bin_counts(["a", "b"])


def test_json_round_trip_is_exact_and_strict_json(frame: pd.DataFrame) -> None:
    df = frame.assign(empty=np.nan, t=pd.Timestamp("2024-01-01"))
    profile = profile_frame(df)
    text = json.dumps(profile.to_dict(), allow_nan=False)
    assert Profile.from_dict(json.loads(text)) == profile
    assert "sample" not in json.dumps(profile.to_dict(sample=False))


def test_from_dict_rejects_what_is_not_a_profile() -> None:
    with pytest.raises(DataError, match="not a dataset profile"):
        Profile.from_dict({"rows": 3})
    with pytest.raises(DataError, match="newer"):
        Profile.from_dict({"format": 99, "rows": 0, "columns": []})


def test_profile_lookup_by_name(frame: pd.DataFrame) -> None:
    profile = profile_frame(frame)
    assert profile.names == list(frame.columns)
    assert isinstance(profile["area"], ColumnProfile)
    with pytest.raises(KeyError, match="nope"):
        profile["nope"]


def test_bad_arguments_are_refused(frame: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="bins"):
        profile_frame(frame, bins=0)


def test_profiles_100k_rows_by_20_columns_well_under_a_second() -> None:
    rng = np.random.default_rng(0)
    n = 100_000
    data: dict[str, object] = {f"x{i}": rng.normal(size=n) for i in range(16)}
    data |= {f"c{i}": rng.choice(["a", "b", "c", "d", "e"], n) for i in range(4)}
    df = pd.DataFrame(data)
    best = min(_seconds(lambda: profile_frame(df)) for _ in range(3))
    assert best < 1.0, f"profiling took {best:.2f}s"


def _seconds(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start
