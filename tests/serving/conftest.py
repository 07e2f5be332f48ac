"""Fixtures: the real app over real models, in-process (TestClient) and on a real socket."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import warnings
from collections.abc import Iterator

import pytest
import uvicorn
from serving_models import make_source
from starlette.applications import Starlette

with warnings.catch_warnings():  # Starlette 1.x nudges towards httpx2; httpx works as is
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient

from shipyard.config import ServingSpec
from shipyard.serving import create_app

TOKEN = "s3cret-token"
ENDPOINTS = {"housing": "housing@champion", "churn": "churn", "fragile": "fragile"}


def make_app(**spec: object) -> Starlette:
    settings = {"token": TOKEN, "max_body_bytes": 64 * 1024, "max_batch_rows": 1000, **spec}
    return create_app(make_source(), spec=ServingSpec(**settings), endpoints=ENDPOINTS)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """One app for a whole module, lifespan started; server errors come back as responses."""
    with TestClient(make_app(), raise_server_exceptions=False) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve_in_thread(app: Starlette) -> Iterator[str]:
    """Run ``app`` under a real uvicorn on 127.0.0.1 in a thread; yield its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module")
def live_url() -> Iterator[str]:
    """host:port of a real uvicorn serving the test endpoints."""
    with serve_in_thread(make_app()) as url:
        yield url
