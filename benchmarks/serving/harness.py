"""What every serving benchmark here shares: ports, server processes, start-up timing, wrk.

Servers run as child processes in their own session (process group), so stopping one
also stops whatever it spawned (BentoML's and MLflow's worker processes) and nothing
else. Only 127.0.0.1 is ever used.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
POLL_S = 0.02


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def lua_body(script: Path) -> bytes:
    """The request body a wrk script sends (a Lua long string, ``wrk.body = [==[...]==]``)."""
    match = re.search(r"wrk\.body\s*=\s*\[(=*)\[(.*?)\]\1\]", script.read_text(), re.S)
    if match is None:
        raise ValueError(f"{script} sets no wrk.body = [==[...]==]")
    return match.group(2).strip().encode()


def post(url: str, body: bytes, timeout: float = 5.0) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def get_status(url: str, timeout: float = 1.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


@dataclass(frozen=True)
class Startup:
    """Seconds from spawn to the first 200 of the health route, and of a predict request."""

    ready_s: float
    first_predict_s: float


class Server:
    """One server process; ``start`` times it up to its first 200 on a predict request."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        health_url: str,
        predict_url: str,
        body: bytes,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        log: Path | None = None,
    ) -> None:
        self.argv = list(argv)
        self.health_url = health_url
        self.predict_url = predict_url
        self.body = body
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 120.0) -> Startup:
        """Spawn, poll the health route every 20 ms, then POST until a 200.

        Raises:
            RuntimeError: the process exits or is not answering 200 within ``timeout_s``.
        """
        out = open(self.log, "wb") if self.log else subprocess.DEVNULL  # noqa: SIM115
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            self.argv, env=self.env, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = started + timeout_s
        ready = None
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.argv[0]} exited with {self.proc.returncode}; see {self.log}"
                )
            if ready is None:
                if get_status(self.health_url) == 200:
                    ready = time.perf_counter() - started
                    continue
            else:
                status, answer = post(self.predict_url, self.body)
                if status == 200:
                    return Startup(ready, time.perf_counter() - started)
                if status not in (503, 404):  # still loading is fine; anything else is not
                    raise RuntimeError(f"predict answered {status}: {answer[:300]!r}")
            time.sleep(POLL_S)
        self.stop()
        raise RuntimeError(f"{self.argv} did not answer 200 within {timeout_s} s; see {self.log}")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server and every process under it, so far.

        CPU per request is steadier than requests per second on a shared machine: other
        jobs take cores away from the server, not work added to each request.
        """
        import psutil

        if self.proc is None:
            return 0.0
        root = psutil.Process(self.proc.pid)
        total = 0.0
        for process in [root, *root.children(recursive=True)]:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def stop(self) -> None:
        """SIGTERM the server's process group, SIGKILL it after 20 s."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        except ProcessLookupError:
            pass


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: requests per second and latency percentiles in milliseconds."""

    connections: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors plus non-2xx answers
    server_cpu_us: float | None = None  # the server's CPU time per request, microseconds


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def run_wrk(url: str, connections: int, seconds: int, script: Path) -> WrkResult:
    """``wrk -t1 -c N -d S --latency -s script url``, parsed; one wrk thread (2 cores here)."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
            "--latency", "-s", str(script), url]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout

    def number(pattern: str) -> str:
        match = re.search(pattern, out)
        if match is None:
            raise RuntimeError(f"cannot read {pattern!r} from wrk's output:\n{out}")
        return match.group(1)

    def percentile(p: str) -> float:
        match = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s|m)\b", out)
        if match is None:
            raise RuntimeError(f"no {p}% latency in wrk's output:\n{out}")
        return float(match.group(1)) * _UNITS[match.group(2)]

    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors += int(non_2xx.group(1)) if non_2xx else 0
    return WrkResult(
        connections=connections,
        requests=int(number(r"(\d+) requests in")),
        rps=float(number(r"Requests/sec:\s+([\d.]+)")),
        p50_ms=percentile("50"),
        p99_ms=percentile("99"),
        errors=errors,
    )


def load_average() -> float:
    return os.getloadavg()[0]
