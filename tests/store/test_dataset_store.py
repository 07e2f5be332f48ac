"""The DatasetStore contract, on SQLite and on the PostgreSQL at 127.0.0.1:5432."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shipyard.errors import NotFoundError, StoreError
from shipyard.store.datasets import AmbiguousDatasetError, DatasetRecord, DatasetStore
from shipyard.store.db import Database

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PROFILE = {"format": 1, "rows": 3, "columns": [{"name": "x", "kind": "numeric", "count": 3}]}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DatasetStore]:
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path / 'shipyard.db'}"
    db = Database(url)
    yield DatasetStore(db)
    db.dispose()


def _record(
    store: DatasetStore, digest: str, name: str = "housing", minutes: int = 0
) -> DatasetRecord:
    return store.record(
        digest=digest,
        name=name,
        rows=3,
        columns=["x", "y"],
        schema={"x": "float64", "y": "str"},
        profile=PROFILE,
        created_at=T0 + timedelta(minutes=minutes),
    )


def _digest(first: str) -> str:
    return first + "0" * (64 - len(first))


def test_record_then_get_returns_every_field(store: DatasetStore) -> None:
    recorded = _record(store, _digest("ab"))
    assert recorded == store.get(_digest("ab"))
    assert recorded == DatasetRecord(
        digest=_digest("ab"),
        name="housing",
        rows=3,
        columns=("x", "y"),
        schema={"x": "float64", "y": "str"},
        created_at=T0,
        profile=PROFILE,
    )
    assert recorded.created_at.tzinfo is not None


def test_recording_a_digest_twice_keeps_the_first_record(store: DatasetStore) -> None:
    first = _record(store, _digest("ab"), name="housing")
    again = _record(store, _digest("ab"), name="renamed", minutes=5)
    assert again == first
    assert len(store.list()) == 1


def test_concurrent_records_of_one_digest_leave_one_row(store: DatasetStore) -> None:
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: _record(store, _digest("cd"), minutes=i), range(8)))
    assert len({r.created_at for r in results}) == 1
    assert len(store.list()) == 1


def test_find_by_name_gives_the_newest(store: DatasetStore) -> None:
    _record(store, _digest("a1"), minutes=0)
    _record(store, _digest("a2"), minutes=2)
    _record(store, _digest("a3"), name="other", minutes=3)
    assert store.find("housing").digest == _digest("a2")


def test_find_by_full_digest_and_unique_prefix(store: DatasetStore) -> None:
    _record(store, _digest("abc1"))
    _record(store, _digest("abc2"))
    assert store.find(_digest("abc1")).digest == _digest("abc1")
    assert store.find("abc2").digest == _digest("abc2")


def test_an_ambiguous_prefix_lists_the_candidates(store: DatasetStore) -> None:
    _record(store, _digest("abcd1"))
    _record(store, _digest("abcd2"))
    with pytest.raises(AmbiguousDatasetError, match="more than one dataset") as info:
        store.find("abcd")
    assert set(info.value.matches) == {_digest("abcd1"), _digest("abcd2")}
    assert isinstance(info.value, LookupError)


def test_a_name_wins_over_a_prefix_it_spells(store: DatasetStore) -> None:
    _record(store, _digest("beef"), name="first")
    _record(store, _digest("ca"), name="beef")
    assert store.find("beef").digest == _digest("ca")


def test_unknown_refs_say_how_to_list_datasets(store: DatasetStore) -> None:
    for ref in ("nope", "ab", _digest("ff")):
        with pytest.raises(NotFoundError, match="shipyard datasets list"):
            store.find(ref)
    with pytest.raises(NotFoundError, match="shipyard datasets list"):
        store.get(_digest("ff"))


def test_list_is_newest_first_without_profiles_and_filters_by_name(store: DatasetStore) -> None:
    _record(store, _digest("01"), minutes=1)
    _record(store, _digest("02"), name="other", minutes=3)
    _record(store, _digest("03"), minutes=2)
    listed = store.list()
    assert [r.digest[:2] for r in listed] == ["02", "03", "01"]
    assert all(r.profile is None for r in listed)
    assert [r.digest[:2] for r in store.list(name="housing")] == ["03", "01"]
    assert len(store.list(limit=1)) == 1


def test_a_malformed_digest_is_refused(store: DatasetStore) -> None:
    with pytest.raises(StoreError, match="not a sha256 digest"):
        _record(store, "XYZ")
