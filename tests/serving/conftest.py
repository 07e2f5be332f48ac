"""Fixtures: one app per module over real models, in-process and on a real socket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .servers import TestClient, make_app, serve_in_thread


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """One app for a whole module, lifespan started; server errors come back as responses."""
    with TestClient(make_app(), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def live_url() -> Iterator[str]:
    """host:port of a real uvicorn serving the test endpoints."""
    with serve_in_thread(make_app()) as url:
        yield url
