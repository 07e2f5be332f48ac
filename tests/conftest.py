"""Shared fixtures: a fresh project, a fresh PostgreSQL database, a local S3 server."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shipyard.project import Project

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    """A Project in an empty directory: SQLite store and local artifacts under it."""
    proj = Project.open(tmp_path)
    yield proj
    if "db" in vars(proj):  # the cached_property was opened
        proj.db.dispose()


def _pg_create(name: str, template: str | None = None) -> None:
    psycopg = pytest.importorskip("psycopg", reason="PostgreSQL tests need shipyard[postgres]")
    sql = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
    try:
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=3) as conn:
            conn.execute(sql)
    except psycopg.OperationalError as exc:
        pytest.skip(f"the PostgreSQL server at 127.0.0.1:5432 is not reachable: {exc}")


def _pg_drop(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database on 127.0.0.1:5432, dropped afterwards."""
    name = f"shipyard_test_{uuid.uuid4().hex[:12]}"
    _pg_create(name)
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        _pg_drop(name)


@pytest.fixture(scope="session")
def _pg_template() -> Iterator[str]:
    """A database migrated once per session, copied by ``pg_store_url``."""
    from shipyard.store.db import Database

    name = f"shipyard_test_template_{uuid.uuid4().hex[:12]}"
    _pg_create(name)
    try:
        Database(f"{PG_SERVER}/{name}").dispose()  # a template must have no connections
        yield name
    finally:
        _pg_drop(name)


@pytest.fixture
def pg_store_url(_pg_template: str) -> Iterator[str]:
    """Like ``pg_url``, but already at the newest schema: a copy of a migrated template,
    which is several times faster than migrating each new database."""
    name = f"shipyard_test_{uuid.uuid4().hex[:12]}"
    _pg_create(name, template=_pg_template)
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        _pg_drop(name)


@dataclass(frozen=True)
class S3Server:
    """A running moto S3 server with one empty bucket."""

    endpoint_url: str
    bucket: str
    storage_options: dict[str, Any]

    def url(self, prefix: str = "") -> str:
        return f"s3://{self.bucket}/{prefix}".rstrip("/")


@pytest.fixture(scope="session")
def _moto_endpoint() -> Iterator[str]:
    """One moto S3 server for the session; tests get their own bucket in it."""
    pytest.importorskip("s3fs", reason="S3 tests need shipyard[s3]")
    server_mod = pytest.importorskip("moto.server", reason="S3 tests need moto[server]")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_server(_moto_endpoint: str) -> S3Server:
    """A real S3 API (a moto server on a free port) with a fresh, empty bucket, for s3fs."""
    import boto3

    bucket = f"shipyard-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=_moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=bucket)
    return S3Server(
        endpoint_url=_moto_endpoint,
        bucket=bucket,
        storage_options={
            "key": "testing",
            "secret": "testing",
            "client_kwargs": {"endpoint_url": _moto_endpoint, "region_name": "us-east-1"},
            # a filesystem cached by another test may point at another bucket's state
            "skip_instance_cache": True,
        },
    )
