"""A ``shipyard serve`` child process for the quickstart: started, awaited, stopped cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from shipyard.errors import ServingError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``shipyard serve`` in a child process, on a free port of 127.0.0.1.

    Args:
        root: the project to serve.
        endpoints: ``ENDPOINT=REF`` arguments (none: the project's defaults).
        env: extra environment (e.g. ``SHIPYARD_SERVING__TOKEN``).
    """

    def __init__(self, root: Path, *endpoints: str, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.endpoints = endpoints
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        self.log = root / ".shipyard" / "serve.log"
        self.started_s: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with open(self.log, "ab") as log:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "shipyard",
                    "-C",
                    str(self.root),
                    "serve",
                    "--port",
                    str(self.port),
                    *self.endpoints,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServingError(
                    f"the server exited with {self._proc.returncode}", hint=f"see {self.log}"
                )
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200:
                    self.started_s = time.perf_counter() - started
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise ServingError("the server did not become ready within 90 s", hint=f"see {self.log}")

    def stop(self) -> int | None:
        """SIGTERM, then wait for the drain; returns the exit code."""
        if self._proc is None or self._proc.poll() is not None:
            return None if self._proc is None else self._proc.returncode
        self._proc.send_signal(signal.SIGTERM)
        try:
            return self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            return self._proc.wait()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
