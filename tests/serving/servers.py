"""The real app over the test models, in-process (TestClient) and on a real socket."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import warnings
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette

from shipyard.config import ServingSpec
from shipyard.serving import create_app

from .serving_models import make_source

with warnings.catch_warnings():  # Starlette 1.x nudges towards httpx2; httpx works as is
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

__all__ = ["ENDPOINTS", "TOKEN", "TestClient", "free_port", "make_app", "serve_in_thread"]

TOKEN = "s3cret-token"
ENDPOINTS = {"housing": "housing@champion", "churn": "churn", "fragile": "fragile"}


def make_app(**spec: object) -> Starlette:
    settings = {"token": TOKEN, "max_body_bytes": 64 * 1024, "max_batch_rows": 1000, **spec}
    return create_app(make_source(), spec=ServingSpec(**settings), endpoints=ENDPOINTS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve_in_thread(app: Starlette) -> Iterator[str]:
    """Run ``app`` under a real uvicorn on 127.0.0.1 in a thread; yield ``host:port``."""
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
