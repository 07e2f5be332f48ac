"""RegistryStore on SQLite and on the PostgreSQL at 127.0.0.1:5432 (one contract, both backends)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import NotFoundError
from shipyard.store.db import Database
from shipyard.store.registry import AliasMovedError, RegistryStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shipyard.db'}"
    else:  # a fresh, migrated database from tests/conftest.py
        url = request.getfixturevalue("pg_store_url")
    database = Database(url)
    yield database
    database.dispose()


@pytest.fixture
def store(db: Database) -> RegistryStore:
    return RegistryStore(db)


def _add(store: RegistryStore, name: str = "housing", **kw: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {"bundle_digest": "a" * 64, "flavor": "sklearn", "size_bytes": 10}
    args.update(kw)
    return store.add_version(name, **args)  # type: ignore[arg-type]


def test_versions_are_numbered_from_one_per_model(store: RegistryStore) -> None:
    assert [_add(store).version for _ in range(3)] == [1, 2, 3]
    assert _add(store, "churn").version == 1
    assert [v.version for v in store.list_versions("housing")] == [1, 2, 3]
    assert store.latest_version("housing") == 3
    assert store.latest_version("nothing") is None


def test_a_version_keeps_what_was_registered(store: RegistryStore) -> None:
    made = _add(
        store,
        run_id="r1",
        size_bytes=1234,
        tags={"team": "pricing"},
        details={"target": "price"},
    )
    found = store.find_version("housing", 1)
    assert found is not None
    assert found == made
    assert (found.run_id, found.size_bytes, found.ref) == ("r1", 1234, "housing:1")
    assert found.tags == {"team": "pricing"}
    assert found.details == {"target": "price"}
    assert found.created_at.tzinfo is not None
    assert store.find_version("housing", 2) is None


def test_models_are_listed_with_latest_version_and_aliases(store: RegistryStore) -> None:
    _add(store, "housing")
    _add(store, "housing")
    _add(store, "churn")
    store.set_alias("housing", "champion", 1, actor="ana")
    listed = store.list_models()
    assert [m.name for m in listed] == ["churn", "housing"]
    housing = listed[1]
    assert (housing.latest_version, housing.version_count) == (2, 2)
    assert housing.aliases == {"champion": 1}
    assert store.find_model("nothing") is None


def test_alias_moves_are_recorded_with_actor_reason_and_evidence(store: RegistryStore) -> None:
    _add(store)
    _add(store)
    first = store.set_alias("housing", "champion", 1, actor="ana", reason="first")
    second = store.set_alias(
        "housing", "champion", 2, actor="bo", evidence={"delta": 0.3}, forced=False
    )
    removed = store.set_alias("housing", "champion", None, actor="cy", reason="rollback")
    assert (first.from_version, first.to_version) == (None, 1)
    assert (second.from_version, second.to_version, second.evidence) == (1, 2, {"delta": 0.3})
    assert (removed.from_version, removed.to_version) == (2, None)
    history = store.history("housing")
    assert [(e.actor, e.alias, e.to_version) for e in history] == [
        ("ana", "champion", 1),
        ("bo", "champion", 2),
        ("cy", "champion", None),
    ]
    assert history[2].reason == "rollback"
    assert store.aliases("housing") == {}


def test_a_version_lists_the_aliases_pointing_at_it(store: RegistryStore) -> None:
    _add(store)
    store.set_alias("housing", "champion", 1, actor="ana")
    store.set_alias("housing", "blue", 1, actor="ana")
    found = store.find_version("housing", 1)
    assert found is not None
    assert found.aliases == ("blue", "champion")
    assert store.history("housing", "blue")[0].alias == "blue"


def test_alias_to_a_missing_version_is_refused(store: RegistryStore) -> None:
    _add(store)
    with pytest.raises(NotFoundError, match="housing:7"):
        store.set_alias("housing", "champion", 7, actor="ana")
    assert store.history("housing") == []


def test_alias_move_is_refused_when_the_alias_moved_meanwhile(store: RegistryStore) -> None:
    for _ in range(3):
        _add(store)
    store.set_alias("housing", "champion", 1, actor="ana")
    store.set_alias("housing", "champion", 2, actor="bo")
    with pytest.raises(AliasMovedError, match="points at version 2, not version 1"):
        store.set_alias("housing", "champion", 3, actor="cy", expected_from=1)
    store.set_alias("housing", "champion", 3, actor="cy", expected_from=2)
    assert store.aliases("housing") == {"champion": 3}


def test_tags_and_details_change_without_touching_the_bundle(store: RegistryStore) -> None:
    made = _add(store, tags={"a": "1", "b": "2"})
    tagged = store.update_tags("housing", 1, {"a": None, "c": "3"})
    assert tagged.tags == {"b": "2", "c": "3"}
    store.update_details("housing", 1, "tests", {"smoke": {"passed": True}})
    noted = store.update_details("housing", 1, "tests", {"slices": {"passed": False}})
    assert noted.details["tests"] == {"smoke": {"passed": True}, "slices": {"passed": False}}
    assert noted.bundle_digest == made.bundle_digest
    with pytest.raises(NotFoundError):
        store.update_tags("housing", 9, {"a": "1"})


def test_concurrent_registrations_from_threads_get_distinct_versions(
    store: RegistryStore,
) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        versions = list(pool.map(lambda _: _add(store, "race").version, range(40)))
    assert sorted(versions) == list(range(1, 41))


def _register_in_child(url: str, count: int, queue: Any, start: Any) -> None:
    try:
        store = RegistryStore(Database(url))
        start.wait(timeout=60)  # all children register at the same moment
        queue.put([_add(store, "race").version for _ in range(count)])
    except Exception as exc:  # hand the failure to the parent instead of hanging it
        queue.put(f"{type(exc).__name__}: {exc}")


def test_concurrent_registrations_from_processes_get_distinct_versions(db: Database) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue, start = ctx.Queue(), ctx.Barrier(2)
    children = [
        ctx.Process(target=_register_in_child, args=(db.url, 15, queue, start)) for _ in range(2)
    ]
    for child in children:
        child.start()
    results = [queue.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=60)
    failures = [r for r in results if isinstance(r, str)]
    assert not failures
    versions = [v for r in results for v in r]
    assert sorted(versions) == list(range(1, 31))
    assert RegistryStore(db).latest_version("race") == 30
