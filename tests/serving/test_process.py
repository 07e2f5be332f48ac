"""The server process: SIGTERM fails readiness, drains in-flight requests, exits 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest

from shipyard.config import ServingSpec
from shipyard.errors import ConfigError
from shipyard.serving.process import DrainingServer, parse_endpoints, server_config

from .servers import free_port, make_app

HERE = Path(__file__).parent
BODY = orjson.dumps(
    {
        "inputs": [
            {"name": n, "shape": [1], "datatype": "FP32", "data": [v]}
            for n, v in (("rooms", 3.0), ("area", 100.0), ("age", 5.0))
        ]
    }
)


def start_server(tmp_path: Path, *endpoints: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shipyard.serving",
            "--source",
            "serving_models:make_source",
            "--port",
            str(port),
            "--log-level",
            "warning",
            *endpoints,
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read().decode() if proc.stdout else "exited")
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("the server did not become ready")


@pytest.mark.slow
def test_sigterm_drains_in_flight_requests_and_exits_zero(tmp_path: Path) -> None:
    proc, url = start_server(tmp_path, "housing=housing@champion", "slow=slow")
    try:
        result: dict[str, httpx.Response] = {}

        def slow_request() -> None:
            result["slow"] = httpx.post(f"{url}/v2/models/slow/infer", content=BODY, timeout=30)

        worker = threading.Thread(target=slow_request)
        worker.start()
        deadline = time.monotonic() + 20
        while "shipyard_inference_requests_in_flight 1.0" not in httpx.get(f"{url}/metrics").text:
            assert time.monotonic() < deadline, "the slow request never arrived"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)  # while the slow model (1 s) is predicting
        time.sleep(0.3)
        with pytest.raises(httpx.ConnectError):  # no longer accepting
            httpx.get(f"{url}/v2/health/ready", timeout=2)
        worker.join(30)
        assert result["slow"].status_code == 200, result["slow"].text
        assert proc.wait(30) == 0, proc.stdout.read().decode() if proc.stdout else ""
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
def test_startup_failure_exits_nonzero_with_the_reason(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "shipyard.serving",
            "--source",
            "serving_models:make_source",
            "--port",
            str(port),
            "housing=housing:42",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3
    assert "model 'housing' has no version 42" in done.stderr


def test_sigterm_fails_readiness_at_once() -> None:
    class State:
        draining = False

        def begin_drain(self) -> None:
            self.draining = True

    import uvicorn

    state = State()
    server = DrainingServer(uvicorn.Config(app=None), state)  # type: ignore[arg-type]
    server.handle_exit(signal.SIGTERM, None)
    assert state.draining and server.should_exit
    assert signal.SIGTERM not in server._captured_signals  # so the process exits 0


def test_endpoint_arguments_are_parsed_strictly() -> None:
    assert parse_endpoints(["housing=housing@champion", "b=m:2"]) == {
        "housing": "housing@champion",
        "b": "m:2",
    }
    for bad in (["housing"], ["=m"], ["a b=m"], ["a=m", "a=n"], ["a="]):
        with pytest.raises(ConfigError):
            parse_endpoints(bad)


def test_default_bind_is_loopback() -> None:
    assert ServingSpec().host == "127.0.0.1"


def test_serves_on_httptools_and_uvloop_when_installed() -> None:
    pytest.importorskip("httptools")
    uvloop = pytest.importorskip("uvloop")
    config = server_config(make_app())
    config.load()
    assert config.http_protocol_class.__name__ == "HttpToolsProtocol"
    assert config.ws_protocol_class is None
    factory = config.get_loop_factory()
    assert factory is not None
    loop = factory()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
