"""Database: SQLite (WAL, queued writers) or PostgreSQL, migrated on open,
every write all-or-nothing."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from shipyard.errors import ShipyardError, StoreError
from shipyard.project import Project
from shipyard.store.db import Database, table_names
from shipyard.store.schema import Base, RunRow


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nested' / 'dirs' / 'shipyard.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def db(url: str) -> Iterator[Database]:
    database = Database(url)
    yield database
    database.dispose()


def add_run(session: object, run_id: str) -> None:
    from datetime import UTC, datetime

    session.add(  # type: ignore[attr-defined]
        RunRow(
            id=run_id,
            pipeline="p",
            status="running",
            started_at=datetime.now(UTC),
            environment={},
            config={},
            details={},
        )
    )


def count_runs(db: Database) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(RunRow)) or 0)


# ---------------------------------------------------------------- opening
def test_opening_creates_every_table_at_the_newest_revision(db: Database) -> None:
    tables = set(table_names(db.engine))
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from shipyard.store import db as db_module

    cfg = Config()
    cfg.set_main_option("script_location", str(db_module._MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    with db.read() as s:
        assert s.scalar(text("SELECT version_num FROM alembic_version")) == head


def test_reopening_keeps_the_data(url: str) -> None:
    first = Database(url)
    with first.transaction() as s:
        add_run(s, "r1")
    first.dispose()
    second = Database(url)
    try:
        assert count_runs(second) == 1
    finally:
        second.dispose()


def test_the_head_read_from_the_scripts_is_alembics_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from shipyard.store import db as db_module

    cfg = Config()
    cfg.set_main_option("script_location", str(db_module._MIGRATIONS))
    assert db_module._head_revision() == ScriptDirectory.from_config(cfg).get_current_head()


def test_opening_a_database_at_head_does_not_import_alembic(url: str) -> None:
    Database(url).dispose()  # migrated here
    code = (
        "import sys; from shipyard.store.db import Database; "
        f"Database({url!r}).dispose(); print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_project_stores_metadata_in_sqlite_under_dot_shipyard_in_wal_mode(
    project: Project,
) -> None:
    path = project.root / ".shipyard" / "shipyard.db"
    assert project.db.url == f"sqlite:///{path}"
    assert path.is_file()
    with project.db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert (project.root / ".shipyard" / "shipyard.db-wal").exists()


def test_sqlite_creates_missing_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "shipyard.db"
    Database(f"sqlite:///{path}").dispose()
    assert path.is_file()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'shipyard.db'}")
    try:
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        db.dispose()


def test_unreachable_postgres_is_a_store_error_without_the_password() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(StoreError) as info:
        Database("postgresql://shipyard:hunter2@127.0.0.1:1/nothing")
    message = str(info.value)
    assert "hunter2" not in message
    assert "shipyard:***@127.0.0.1:1/nothing" in message
    assert info.value.hint and "store" in info.value.hint


def test_unknown_url_scheme_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot open metadata store"):
        Database("nosuchdb://x/y")


@pytest.mark.postgres
def test_postgres_scheme_spellings_are_accepted(pg_url: str) -> None:
    for spelling in (pg_url, pg_url.replace("postgresql://", "postgres://", 1)):
        db = Database(spelling)
        try:
            assert db.engine.dialect.name == "postgresql"
            assert count_runs(db) == 0
        finally:
            db.dispose()


def _open_at_once(url: str, barrier: multiprocessing.synchronize.Barrier) -> None:
    barrier.wait(30)
    Database(url).dispose()


def test_processes_opening_a_new_database_at_once_all_succeed(url: str) -> None:
    """The first open migrates; concurrent first opens must queue, not collide."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_open_at_once, args=(url, barrier)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    db = Database(url)
    try:
        assert set(Base.metadata.tables) <= set(table_names(db.engine))
    finally:
        db.dispose()


# ---------------------------------------------------------------- transactions
def test_a_transaction_commits_everything_at_its_end(db: Database) -> None:
    with db.transaction() as s:
        add_run(s, "a")
        add_run(s, "b")
    assert count_runs(db) == 2


def test_an_exception_inside_a_transaction_rolls_all_of_it_back(db: Database) -> None:
    class Boom(ShipyardError):
        pass

    with pytest.raises(Boom), db.transaction() as s:
        add_run(s, "a")
        s.flush()  # already sent to the database, still not committed
        raise Boom("stop")
    assert count_runs(db) == 0


def test_a_database_error_rolls_back_and_becomes_a_store_error(db: Database) -> None:
    with db.transaction() as s:
        add_run(s, "taken")
    with pytest.raises(StoreError, match="metadata store") as info, db.transaction() as s:
        add_run(s, "fresh")
        s.flush()
        add_run(s, "taken")  # primary key violation at commit
    assert info.value.hint
    assert count_runs(db) == 1
    with db.read() as s:
        assert s.get(RunRow, "fresh") is None


def test_sqlite_writers_queue_instead_of_failing(tmp_path: Path) -> None:
    """Two read-then-write transactions at once: with a deferred BEGIN one of them
    would fail at once with 'database is locked'; BEGIN IMMEDIATE makes it wait."""
    db = Database(f"sqlite:///{tmp_path / 'shipyard.db'}")
    errors: list[BaseException] = []
    started = threading.Barrier(2)

    def read_then_write(run_id: str) -> None:
        try:
            started.wait(5)
            with db.transaction() as s:
                s.scalar(select(func.count()).select_from(RunRow))
                time.sleep(0.2)
                add_run(s, run_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read_then_write, args=(f"r{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert errors == []
        assert count_runs(db) == 2
    finally:
        db.dispose()


def test_sqlite_readers_are_not_blocked_by_a_long_writer(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'shipyard.db'}")
    with db.transaction() as s:
        add_run(s, "committed")
    inside = threading.Event()
    release = threading.Event()

    def long_writer() -> None:
        with db.transaction() as s:
            add_run(s, "pending")
            s.flush()
            inside.set()
            release.wait(10)

    writer = threading.Thread(target=long_writer)
    writer.start()
    try:
        assert inside.wait(10)
        t0 = time.perf_counter()
        with db.read() as s:
            seen = s.scalars(select(RunRow.id)).all()
        assert time.perf_counter() - t0 < 2, "the reader waited for the writer's lock"
        assert seen == ["committed"]  # the uncommitted row is invisible
    finally:
        release.set()
        writer.join(10)
        db.dispose()


# ---------------------------------------------------------------- migrations
def _alembic_config(conn: object) -> object:
    from alembic.config import Config

    from shipyard.store import db as db_module

    cfg = Config()
    cfg.set_main_option("script_location", str(db_module._MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def test_the_migrations_build_the_schema_the_code_declares(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert differences == []


def test_a_store_from_the_first_revision_upgrades_and_keeps_its_events(url: str) -> None:
    from alembic import command
    from sqlalchemy import create_engine, inspect

    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True)
    engine = create_engine(url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0001")
        conn.execute(
            text(
                "INSERT INTO prediction_events (request_id, at, endpoint, model_name, "
                "model_version, variant, key, inputs, outputs, latency_ms, status, shadow) "
                "VALUES ('r1', 1.0, 'e', 'm', 1, 'main', 'u1', '{}', '{}', 1.0, 200, false)"
            )
        )
    engine.dispose()
    from shipyard.store.endpoints import latest_request
    from shipyard.store.events import EventStore

    db = Database(url)  # migrates to head
    try:
        indexes = {i["name"] for i in inspect(db.engine).get_indexes("prediction_events")}
        assert {"ix_prediction_events_endpoint_at", "ix_prediction_events_key"} <= indexes
        assert "ix_prediction_events_at" not in indexes
        assert EventStore(db).count("e") == 1
        assert latest_request(db, "e", "u1") == "r1"
    finally:
        db.dispose()
