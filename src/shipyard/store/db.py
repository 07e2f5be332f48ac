"""Connections to the metadata database, migrated to the newest schema on open.

SQLite (the default) runs in WAL mode with a busy timeout so that several processes
can write at once without losing a row; PostgreSQL is used as is. Every write goes
through ``Database.transaction()``: all of it lands, or none of it.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from shipyard.errors import StoreError

_MIGRATIONS = Path(__file__).with_name("migrations")
_migrated: set[str] = set()
_migrate_lock = threading.Lock()
_MIGRATION_LOCK = int.from_bytes(b"SHIPYARD", "big")  # a PostgreSQL advisory lock key


class Database:
    """One metadata database, shared by every store of a project.

    Args:
        url: a SQLAlchemy URL (``sqlite:////abs/path.db`` or ``postgresql://...``).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # reads begin without taking SQLite's write lock (see _make_engine)
        self._readers = sessionmaker(
            self.engine.execution_options(shipyard_read_only=True), expire_on_commit=False
        )
        _migrate(self.engine, url)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose writes commit together at the end, or roll back on error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            raise StoreError(
                f"the metadata store at {_redact(self.url)} failed: {type(exc).__name__}: {exc.orig if hasattr(exc, 'orig') else exc}",
                hint="check that the database is reachable and not locked by another program",
            ) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading only; on SQLite it never waits for a writer."""
        session = self._readers()
        try:
            yield session
        except SQLAlchemyError as exc:
            raise StoreError(f"the metadata store at {_redact(self.url)} failed: {exc}") from exc
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            # WAL lets readers and one writer work at once; busy_timeout makes other
            # writers wait instead of failing. synchronous=FULL fsyncs each commit, so
            # "durable when the step ends" holds through a power loss too; writers batch
            # (one commit per step, per event batch), so it costs little (measured in
            # benchmarks/RESULTS.md).
            cur = dbapi_conn.cursor()
            _set_wal(cur)
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn) -> None:  # type: ignore[no-untyped-def]
            # Take the write lock at BEGIN so two writers queue on busy_timeout
            # instead of one failing with "database is locked" on upgrade. Readers
            # take no lock: in WAL mode they see the last commit and never wait.
            if conn.get_execution_options().get("shipyard_read_only"):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        # pysqlite's own transaction handling must be off for BEGIN IMMEDIATE to work
        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None

        return engine
    for scheme in ("postgresql://", "postgres://"):  # libpq accepts both spellings
        if url.startswith(scheme):
            url = "postgresql+psycopg://" + url[len(scheme) :]
    try:
        return create_engine(url, pool_pre_ping=True)
    except (ImportError, SQLAlchemyError) as exc:
        raise StoreError(
            f"cannot open metadata store {_redact(url)}: {exc}",
            hint="for PostgreSQL install shipyard[postgres]; URLs look like postgresql://user@host/db",
        ) from None


def _set_wal(cursor: Any) -> None:
    """Switch a new SQLite database to WAL, waiting for another process doing the same.

    The switch reads the header, then takes the write lock; two processes switching a
    new file at once deadlock, and SQLite answers the second "database is locked" at
    once, without its busy timeout. Once one has switched, the statement is a no-op.
    """
    deadline = time.monotonic() + _WAL_WAIT_S
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


_WAL_WAIT_S = 60.0  # as long as the busy timeout


def _migrate(engine: Engine, url: str) -> None:
    """Bring the schema to the newest Alembic revision, once per process and URL."""
    if url in _migrated:
        return
    with _migrate_lock:
        if url in _migrated:
            return
        try:
            if not _at_head(engine):
                _upgrade(engine)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"cannot open metadata store {_redact(url)}: {getattr(exc, 'orig', None) or exc}",
                hint="check the store URI in shipyard.yaml (store:) or $SHIPYARD_STORE",
            ) from None
        _migrated.add(url)


def _at_head(engine: Engine) -> bool:
    """Whether the database is at the newest revision, asked without importing Alembic
    (a third of the start-up time of a command that opens the store)."""
    head = _head_revision()
    if head is None:
        return False
    with engine.connect().execution_options(shipyard_read_only=True) as conn:
        if not inspect(conn).has_table("alembic_version"):
            return False
        current = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
    return list(current) == [head]


@functools.cache
def _head_revision() -> str | None:
    """The one head of the migration scripts, read from their text; None when unsure."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (_MIGRATIONS / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        revision = re.search(r"^revision\s*=\s*['\"]([^'\"]+)['\"]", text, re.MULTILINE)
        parent = re.search(r"^down_revision\s*=\s*(.+)$", text, re.MULTILINE)
        if revision is None or parent is None:
            return None
        revisions.add(revision.group(1))
        value = parent.group(1).strip()
        if value != "None":
            quoted = re.fullmatch(r"['\"]([^'\"]+)['\"]", value)
            if quoted is None:  # a merge (a tuple of parents): let Alembic decide
                return None
            parents.add(quoted.group(1))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _upgrade(engine: Engine) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Several processes opening a new database at once would each create the
            # tables; all but one would fail. Queue them: the lock is held until this
            # transaction commits, and the next one finds the schema at head. (SQLite
            # queues them already: BEGIN IMMEDIATE.)
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def table_names(engine: Engine) -> list[str]:
    return sorted(inspect(engine).get_table_names())


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url
