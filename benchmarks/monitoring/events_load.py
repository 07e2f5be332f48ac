"""Prediction events under load: every served request's event lands, and p99 barely moves.

Runs Shipyard's server (one uvicorn process, one-row Open Inference Protocol requests
to a registered linear model, served through onnxruntime) with monitoring off and on,
alternately, ``--rounds`` times each; ``wrk`` keeps ``--connections`` clients busy for
``--seconds``, each request's values drawn from the model's reference distribution.
For each run with events on, the server is stopped with SIGTERM (it drains and flushes
the sink) and the events stored are compared with the requests it answered (its own
Prometheus counter); the server's CPU per request and the monitoring worker's CPU per
event are read from the processes themselves.

    .venv/bin/python benchmarks/monitoring/events_load.py [--seconds 60] [--connections 32]
        [--rounds 3] [--rate REQ_PER_S] [--sink sqlite|parquet|redis|nats]
        [--stage full|ack|queue|off] [--pin SERVER:CLIENT[:WORKER]] [--slice SECONDS]
        [--json]

Without ``--rate`` the clients are a closed loop at saturation: each sends its next
request the moment it has an answer, so the server runs flat out and p99 follows its
capacity (Little's law: latency = clients / throughput), and the ratio measures what
share of the machine the events take. ``--rate R`` measures the latency a client feels
at a set load below that: each connection waits an exponential delay (mean
``connections / R`` s) after each answer, so the clients offer about ``R`` requests a
second between them (less their own waits for answers, a few per cent), as independent
users would. Below saturation a pair's runs answer the same req/s; each round's req/s
ratio, on/off, shows whether events cost throughput.

``--stage`` takes the events only part of the way, to show where their cost lies:
``queue`` stops at the server's queue (each event encoded at emit, then discarded by
the writer thread); ``ack`` sends the batches to a worker process that acknowledges
them unread; ``full`` (the default) is the monitoring worker as it ships. ``off``
attaches nothing on either side of a pair: an A/A run, whose ratios are the spread
that the machine alone puts between two runs of one build.

``--pin`` places the processes on CPUs (Linux): the server on ``SERVER``, ``wrk`` on
``CLIENT``, and the monitoring worker on ``WORKER`` (by default with the server, as a
child inherits), each a comma-separated list. Unpinned, the scheduler moves all three
between the cores, and p99 varies more from run to run.

``--slice S`` runs each round's two servers at once and moves the clients between them
every ``S`` seconds (off, on, on, off, ...), ``--seconds`` for each side in all; each
side's p50 and p99 are those of its slices' latencies pooled. A run of each side after
the other puts minutes between them, over which this machine's speed drifts by more
than the events cost; slices put both sides under the same drift. After each slice with
events the clients wait until the worker has written every event, so that its work is
not done in the other side's slice (``max_backlog``: the most it had left at a slice's
end). Over all rounds, the on/off p99 ratio of the pooled slices comes with a 95%
interval: a bootstrap over pairs of neighbouring slices (``pooled_ratio``).

Needs ``wrk`` (``apt-get install -y wrk``). Prints a table, or JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

FEATURES = ("rooms", "area", "age")
RANGES = {"rooms": (1.0, 8.0), "area": (30.0, 300.0), "age": (0.0, 90.0)}  # the reference's
# wrk's requests: each thread makes BODIES bodies drawn from the reference distribution
# and sends them in turn, so the drift checks see live traffic that has not drifted (a
# constant body would raise drift alerts on every window).
BODIES = 5000
_BODY = json.dumps(
    {"inputs": [{"name": f, "shape": [1], "datatype": "FP32", "data": [0]} for f in FEATURES]}
).replace("[0]", "[%.4f]")
WRK_SCRIPT = string.Template(
    """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local threads = 0
function setup(thread) thread:set("seed", threads); threads = threads + 1 end
local requests, n = {}, 0
function init(args)
  math.randomseed(1000 + seed)
  for i = 1, $bodies do
    local body = string.format('$body', $values)
    requests[i] = wrk.format(nil, nil, nil, body)
  end
end
function request()
  n = n % #requests + 1
  return requests[n]
end
"""
).substitute(
    bodies=BODIES,
    body=_BODY,
    values=", ".join(f"{lo} + {hi - lo} * math.random()" for lo, hi in RANGES.values()),
)


# ``--slice``: each slice's latency quantiles, every 0.05 percent, so that the slices of
# a side can be pooled (wrk's Lua sees its histogram only through percentile())
QUANTILES = """
function done(summary, latency, requests)
  local q = {}
  for i = 0, 2000 do q[#q + 1] = string.format("%d", latency:percentile(i / 20)) end
  io.write("quantiles_us " .. summary.requests .. " " .. table.concat(q, " ") .. "\\n")
end
"""


def wrk_script(rate: float | None, connections: int, quantiles: bool = False) -> str:
    """The Lua script: saturating, or each connection pacing itself to ``rate`` in all;
    with ``quantiles``, printing its latency quantiles at the end (``--slice``)."""
    script = WRK_SCRIPT + (QUANTILES if quantiles else "")
    if rate is None:
        return script
    mean_ms = connections / rate * 1000.0
    # wrk waits whole milliseconds: the fraction is rounded at random, so the mean holds
    pace = (
        f"function delay()\n  local d = -math.log(1 - math.random()) * {mean_ms:.6f}\n"
        "  local whole = math.floor(d)\n"
        "  if math.random() < d - whole then whole = whole + 1 end\n"
        "  return whole\nend\n"
    )
    return script + pace


# ---------------------------------------------------------------------- the server
def register_model(project_dir: str) -> None:
    """Register housing:1: a linear model on the three features, its bundle with a profile."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    from shipyard.bundle import build_bundle
    from shipyard.data.profile import profile_frame
    from shipyard.project import Project
    from shipyard.registry import Registry

    rng = np.random.default_rng(0)
    reference = pd.DataFrame(
        {name: rng.uniform(lo, hi, 5000) for name, (lo, hi) in RANGES.items()}
    ).astype("float32")
    price = 20.0 * reference["rooms"] + 1.5 * reference["area"] - 0.3 * reference["age"]
    model = LinearRegression().fit(reference, price)
    out = Path(project_dir, "housing-bundle")
    build_bundle(model, out, name="housing", input_example=reference.head(5),
                 profile=profile_frame(reference).to_dict())  # fmt: skip
    Registry(Project.open(project_dir)).register("housing", out)


class AckWriter:
    """``--stage ack``: the worker process's writer that answers each batch unread."""

    name = "ack"
    batch_rows = None

    def open(self) -> None:
        pass

    def write_json(self, payload: bytes) -> int:
        # each event an array of its fields (request id first), in one array: the
        # events after the first follow a comma (no input here holds a list of strings)
        return payload.count(b',["') + payload.startswith(b'[["')

    def write(self, rows: list[Any]) -> int:
        return len(rows)

    def close(self) -> None:
        pass


class QueueOnly(AckWriter):
    """``--stage queue``: events encoded at emit as for the worker, then discarded."""

    takes_events = True

    def __init__(self) -> None:
        from shipyard.monitoring.offload import ProcessWriter

        self.encode = ProcessWriter.encode


def serve(project_dir: str, port: int, stage: str) -> None:
    """Run the server in this process until SIGTERM (``--serve``): housing:1 from the registry,
    with monitoring as ``shipyard serve`` starts it (the worker process reads the profile),
    or only part of it (``stage``: see the module docstring), or none (``off``)."""
    from shipyard.monitoring import attach, start_monitor
    from shipyard.monitoring.metrics import MonitoringMetrics
    from shipyard.monitoring.monitor import Monitor
    from shipyard.monitoring.offload import ProcessWriter
    from shipyard.monitoring.sinks import open_sink
    from shipyard.project import Project
    from shipyard.registry import Registry
    from shipyard.serving import create_app
    from shipyard.serving.process import run
    from shipyard.serving.source import RegistrySource

    project = Project.open(project_dir)
    source = RegistrySource(Registry(project))
    app = create_app(source, endpoints={"housing": "housing:1"})
    registry = app.state.server.metrics.registry
    if stage == "full":
        attach(app, start_monitor(project, registry=registry))
    elif stage in ("ack", "queue"):
        # the worker process imports this file by its module name (PYTHONPATH: one_run)
        writer = QueueOnly() if stage == "queue" else ProcessWriter(
            "events_load:AckWriter", name="ack", priority="idle", takes_events=True
        )  # fmt: skip
        sink = open_sink(project.settings, project.db, writer=writer)  # queue, batches: as shipped
        attach(app, Monitor(sink, MonitoringMetrics(registry, sink_stats=sink.stats)))
    run(app, host="127.0.0.1", port=port, log_level="warning")


# ---------------------------------------------------------------------- the driver
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/v2/health/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not come up")


def run_wrk(
    url: str, connections: int, seconds: float, script: str, cpus: set[int] | None = None
) -> dict[str, Any]:
    pin = ["taskset", "-c", ",".join(map(str, sorted(cpus)))] if cpus else []
    out = subprocess.run(
        [*pin, "wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", script, url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)\b", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    result: dict[str, Any] = {
        "rps": rps,
        "p50_ms": pct("50"),
        "p99_ms": pct("99"),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
    }
    quantiles = re.search(r"^quantiles_us (\d+) ([\d ]+)$", out, re.MULTILINE)
    if quantiles:  # the script's done() (``--slice``)
        result["requests"] = float(quantiles.group(1))
        result["quantiles_us"] = [float(v) for v in quantiles.group(2).split()]
    return result


def scrape(base: str) -> dict[str, float]:
    """What the run reads off the server's ``/metrics``: requests answered 200, its CPU
    seconds, and its events emitted and no longer waiting (written, duplicate, dropped)."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        text = response.read().decode()
    got = {"served": 0.0, "cpu": 0.0, "emitted": 0.0, "settled": 0.0}
    for line in text.splitlines():
        if line.startswith("shipyard_inference_requests_total{") and 'code="200"' in line:
            got["served"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith("shipyard_process_cpu_seconds_total "):
            got["cpu"] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("shipyard_events_total{"):
            result = line.split('result="', 1)[1].split('"', 1)[0]
            if result == "emitted":
                got["emitted"] = float(line.rsplit(" ", 1)[1])
            elif result in ("written", "duplicates", "dropped", "rejected"):
                got["settled"] += float(line.rsplit(" ", 1)[1])
    return got


def served_count(base: str) -> tuple[int, float]:
    """Requests answered 200 and CPU seconds used, once the last requests have finished."""
    last = (-1, 0.0)
    for _ in range(50):  # wrk stops with requests in flight: wait for the counter to settle
        got = scrape(base)
        if int(got["served"]) == last[0]:
            return last
        last = (int(got["served"]), got["cpu"])
        time.sleep(0.2)
    return last


class Server:
    """One server process of a run: events on (``args.stage``) or off, housing:1 in a
    project of its own, started and up; ``stop`` ends it with SIGTERM (it drains and
    flushes its sink) and reports what it served and stored."""

    def __init__(self, events: bool, args: argparse.Namespace) -> None:
        self.events = events
        self.args = args
        self.project = tempfile.mkdtemp(prefix="shipyard-events-load-")
        stream = f"bench-{os.getpid()}-{time.time_ns()}"  # a broker stream of this run only
        Path(self.project, "shipyard.yaml").write_text(
            f"monitoring:\n  sink: {args.sink}\n  stream: {stream}\n", encoding="utf-8"
        )
        register_model(self.project)
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.url = f"{self.base}/v2/models/housing/infer"
        stage = args.stage if events else "off"
        path = os.pathsep.join(
            p for p in (str(Path(__file__).parent), os.environ.get("PYTHONPATH")) if p
        )
        server_cpus, self.client_cpus, worker_cpus = args.pin
        # one hash seed for every server: two processes of one build lay out their
        # dicts and sets alike, one source less of difference between the sides
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", self.project, str(port), stage],
            cwd=self.project, env={**os.environ, "PYTHONPATH": path, "PYTHONHASHSEED": "0"},
            preexec_fn=(lambda: os.sched_setaffinity(0, server_cpus)) if server_cpus else None,
        )  # fmt: skip
        try:
            wait_up(self.base, self.proc)
            if worker_cpus:  # the worker started with the server, on the server's CPUs
                for child in psutil.Process(self.proc.pid).children(recursive=True):
                    child.cpu_affinity(sorted(worker_cpus))
        except BaseException:
            self.stop()
            raise

    def load(self, seconds: float, script: str) -> dict[str, Any]:
        return run_wrk(self.url, self.args.connections, seconds, script, self.client_cpus)

    def counts(self) -> tuple[int, float, float]:
        """Requests served, the server's CPU seconds and its worker's, once settled."""
        served, cpu = served_count(self.base)
        return served, cpu, children_cpu(self.proc.pid)

    def backlog(self, timeout: float = 60.0) -> int:
        """Events not yet written when asked; then waits until there are none."""
        got = scrape(self.base)
        waiting = int(got["emitted"] - got["settled"])
        deadline = time.monotonic() + timeout
        while got["emitted"] > got["settled"] and time.monotonic() < deadline:
            time.sleep(0.05)
            got = scrape(self.base)
        return waiting

    def stop(self) -> dict[str, Any]:
        self.proc.send_signal(signal.SIGTERM)
        done: dict[str, Any] = {"exit_code": self.proc.wait(120)}
        if self.events and self.args.stage == "full":
            done["stored"] = stored_count(self.project, self.args.sink)
        return done


def one_run(events: bool, args: argparse.Namespace, script: str) -> dict[str, Any]:
    """One server under ``args.connections`` clients for ``args.seconds``, after a warm-up."""
    server = Server(events, args)
    try:
        server.load(2, script)  # warm up
        warm, cpu_before, worker_before = server.counts()
        result: dict[str, Any] = server.load(args.seconds, script)
        served, cpu_after, worker_after = server.counts()
    finally:
        done = server.stop()
    measured = served - warm
    result.update(
        events=events,
        served=served,
        measured=measured,
        cpu_us_per_request=(cpu_after - cpu_before) / max(measured, 1) * 1e6,
        worker_us_per_event=(worker_after - worker_before) / max(measured, 1) * 1e6,
        **done,
    )
    return result


def interleaved_pair(
    args: argparse.Namespace, script: str, on_first: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``--slice``: both servers up at once, the clients moved between them every
    ``args.slice`` s (off, on, on, off, off, ... or the mirror) until each has had
    ``args.seconds``; each side's latencies pooled over its slices.

    Interleaving puts both sides under the same state of the machine, whose speed
    drifts over minutes, so a pair's ratio measures the events rather than the drift.
    After each slice with events, the clients wait until the worker has written every
    event (``backlog``): the worker's work is done in its own slice, not in the
    other side's. The worker's CPU is counted over the whole pair, waits included.
    """
    import numpy as np

    slices = max(1, round(args.seconds / args.slice))
    order = slice_order(slices, on_first)
    pooled: dict[bool, dict[str, Any]] = {
        events: {"grids": [], "served": 0, "requests": 0.0, "duration": 0.0, "cpu": 0.0,
                 "non_2xx": 0.0, "backlogs": [], "slice_requests": []}
        for events in (False, True)
    }  # fmt: skip
    sides: dict[bool, Server] = {}
    try:  # a server that fails to start stops the one already up
        for events in (on_first, not on_first):  # the leading side starts first too
            sides[events] = Server(events, args)
        for server in sides.values():
            server.load(2, script)  # warm up
        start = {e: server.counts() for e, server in sides.items()}
        for events in order:
            server, side = sides[events], pooled[events]
            served, cpu, _ = server.counts()
            got = server.load(args.slice, script)
            if events:  # read at once, before the counts' wait lets the worker catch up
                side["backlogs"].append(server.backlog())
            after, cpu_after, _ = server.counts()
            side["served"] += after - served
            side["requests"] += got["requests"]  # wrk's, and its time: its req/s
            side["duration"] += got["requests"] / got["rps"] if got["rps"] else args.slice
            side["cpu"] += cpu_after - cpu
            side["non_2xx"] += got["non_2xx"]
            side["grids"].append(np.asarray(got["quantiles_us"], dtype=float) / 1000.0)
            side["slice_requests"].append(got["requests"])
        end = {e: server.counts() for e, server in sides.items()}
    finally:
        done = {e: server.stop() for e, server in sides.items()}
    results = []
    for events in (False, True):
        side = pooled[events]
        grids, requests = np.stack(side["grids"]), np.asarray(side["slice_requests"])
        measured = end[events][0] - start[events][0]
        results.append({
            "events": events,
            "rps": side["requests"] / side["duration"],
            "p50_ms": pooled_quantile(grids, requests, 0.50),
            "p99_ms": pooled_quantile(grids, requests, 0.99),
            "non_2xx": side["non_2xx"],
            "served": end[events][0],
            "measured": measured,
            "cpu_us_per_request": side["cpu"] / max(side["served"], 1) * 1e6,
            "worker_us_per_event": (end[events][2] - start[events][2]) / max(measured, 1) * 1e6,
            "slices": slices,
            "max_backlog": max(side["backlogs"], default=0),
            # each slice's quantile grid, in time order: pooled over rounds in main
            "slice_quantiles_ms": side["grids"],
            "slice_requests": side["slice_requests"],
            **done[events],
        })  # fmt: skip
    return results[0], results[1]


def slice_order(slices: int, on_first: bool) -> list[bool]:
    """Which side each slice loads (True: events on), ``slices`` of each, ABBA: off, on,
    on, off, ... so that a drift in the machine's speed linear in time cancels."""
    order = []
    for k in range(slices):
        first = on_first if k % 2 == 0 else not on_first
        order += [first, not first]
    return order


def pooled_ratio(
    off: list[dict[str, Any]],
    on: list[dict[str, Any]],
    q: float = 0.99,
    confidence: float = 0.95,
    resamples: int = 2000,
) -> dict[str, float]:
    """``--slice``: the ``q`` quantile of every round's on slices pooled over that of the
    off slices, with a paired bootstrap interval (scipy's, percentile method).

    A slice of one side is paired with the other side's slice of the same rank in the
    same round, its neighbour in time (ABBA): a pair shares the machine's state of that
    moment. Resampling pairs, not slices, keeps that sharing; it assumes the pairs are
    independent draws of the machine's state, which a drift over the minutes of a run
    (each round's pairs more alike than two rounds') makes the interval a little narrow.
    """
    import numpy as np
    from scipy import stats

    def grids(runs: list[dict[str, Any]]) -> tuple[Any, Any]:
        values = np.stack([g for r in runs for g in r["slice_quantiles_ms"]])
        requests = np.array([n for r in runs for n in r["slice_requests"]], dtype=float)
        return values, requests

    (off_v, off_n), (on_v, on_n) = grids(off), grids(on)

    def ratio(pairs: Any) -> float:
        pairs = np.asarray(pairs, dtype=int)
        on_q = pooled_quantile(on_v[pairs], on_n[pairs], q)
        return on_q / pooled_quantile(off_v[pairs], off_n[pairs], q)

    everyone = np.arange(len(off_n))
    interval = stats.bootstrap(
        (everyone,), ratio, vectorized=False, n_resamples=resamples,
        confidence_level=confidence, method="percentile", random_state=np.random.default_rng(0),
    ).confidence_interval  # fmt: skip
    return {
        "off_ms": pooled_quantile(off_v, off_n, q),
        "on_ms": pooled_quantile(on_v, on_n, q),
        "ratio": ratio(everyone),
        "low": float(interval.low),
        "high": float(interval.high),
        "pairs": float(len(everyone)),
    }


def pooled_quantile(grids: Any, requests: Any, q: float) -> float:
    """The ``q`` quantile of slices pooled, each known by its quantile grid (a row of
    ``grids``, equally spaced in probability) and weighted by its ``requests``."""
    import numpy as np

    points = grids.shape[1]
    return weighted_quantile(grids.ravel(), np.repeat(requests / points, points), q)


def weighted_quantile(values: Any, weights: Any, q: float) -> float:
    """The least value whose share of the pooled weight at or below it reaches ``q``."""
    import numpy as np

    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, q * cumulative[-1])])


def children_cpu(pid: int) -> float:
    """CPU seconds used so far by the server's child processes (the monitoring worker)."""
    total = 0.0
    for child in psutil.Process(pid).children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def stored_count(project: str, sink: str) -> int:
    from shipyard.monitoring import open_events
    from shipyard.project import Project

    proj = Project.open(project)
    source = open_events(proj.settings, proj.db)
    return len(source.recent("housing", shadow=None))


def positive_rate(text: str) -> float:
    """``--rate``: requests a second in all, above 0."""
    try:
        rate = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a rate is requests a second: {text!r}") from None
    if not rate > 0:
        raise argparse.ArgumentTypeError(f"the rate must be above 0, not {text}")
    return rate


def positive_seconds(text: str) -> float:
    """``--slice``: seconds, at least 1 (wrk runs in whole seconds)."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a slice is seconds: {text!r}") from None
    if seconds < 1 or seconds != int(seconds):
        raise argparse.ArgumentTypeError(f"a slice is whole seconds, at least 1, not {text}")
    return seconds


def cpu_placement(text: str) -> tuple[set[int] | None, ...]:
    """``--pin``: "0:1" or "0:1:1" (comma-separated CPUs each) -> server, client, worker."""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError("give SERVER:CLIENT or SERVER:CLIENT:WORKER, e.g. 0:1")
    try:
        cpus = [{int(c) for c in part.split(",")} for part in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"CPUs are numbers: {text!r}") from None
    known = os.sched_getaffinity(0)
    if not all(c <= known for c in cpus):
        raise argparse.ArgumentTypeError(f"this machine's CPUs are {sorted(known)}")
    return (cpus[0], cpus[1], cpus[2] if len(parts) == 3 else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--rate", type=positive_rate, default=None, metavar="REQ_PER_S",
        help="offer this many requests a second in all (default: saturate)",
    )  # fmt: skip
    parser.add_argument("--sink", default="sqlite", choices=["sqlite", "parquet", "redis", "nats"])
    parser.add_argument("--stage", default="full", choices=["full", "ack", "queue", "off"])
    parser.add_argument(
        "--pin",
        type=cpu_placement,
        default=(None, None, None),
        metavar="SERVER:CLIENT[:WORKER]",
        help="CPUs of each, e.g. 0:1 or 0:1:1",
    )
    parser.add_argument(
        "--slice", type=positive_seconds, default=None, metavar="SECONDS",
        help="run both servers at once, the clients alternating between them this often",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(wrk_script(args.rate, args.connections, quantiles=args.slice is not None))
        script = f.name
    runs = []
    grids: dict[bool, list[dict[str, Any]]] = {False: [], True: []}  # --slice: each run's
    try:
        for round_ in range(args.rounds):
            if args.slice is not None:  # which side leads alternates from round to round
                pair = interleaved_pair(args, script, on_first=round_ % 2 == 1)
            else:
                pair = one_run(False, args, script), one_run(True, args, script)
            for run in pair:
                if args.slice is not None:  # its slices' grids, kept apart for the pooling
                    grids[run["events"]].append(
                        {k: run.pop(k) for k in ("slice_quantiles_ms", "slice_requests")}
                    )
                runs.append(run)
                if not args.json:
                    print(run, flush=True)
    finally:
        os.unlink(script)
    off = [r for r in runs if not r["events"]]
    on = [r for r in runs if r["events"]]
    # each round's on/off pair, run back to back: the host's speed drifts over minutes,
    # so a pair's ratio shows the spread that the medians hide
    pairs = list(zip(off, on, strict=True))
    summary = {
        "seconds": args.seconds,
        "connections": args.connections,
        "sink": args.sink,
        "stage": args.stage,
        "rate": args.rate,
        "pin": [sorted(cpus) if cpus else None for cpus in args.pin],  # server, client, worker
        "slice": args.slice,
        "runs": runs,
        "p99_off_ms": statistics.median(r["p99_ms"] for r in off),
        "p99_on_ms": statistics.median(r["p99_ms"] for r in on),
        "rps_off": statistics.median(r["rps"] for r in off),
        "rps_on": statistics.median(r["rps"] for r in on),
        "cpu_us_off": statistics.median(r["cpu_us_per_request"] for r in off),
        "cpu_us_on": statistics.median(r["cpu_us_per_request"] for r in on),
        "worker_us_per_event": statistics.median(r["worker_us_per_event"] for r in on),
        # stored events are counted with the real worker only (--stage full)
        "all_events_stored": all(r["stored"] == r["served"] for r in on)
        if args.stage == "full"
        else None,
        "p99_pair_ratios": [b["p99_ms"] / a["p99_ms"] for a, b in pairs],
        "rps_pair_ratios": [b["rps"] / a["rps"] for a, b in pairs],
        "cpu_us_pair_deltas": [b["cpu_us_per_request"] - a["cpu_us_per_request"] for a, b in pairs],
    }
    summary["p99_ratio"] = summary["p99_on_ms"] / summary["p99_off_ms"]
    if args.slice is not None:
        summary["p99_pooled"] = pooled_ratio(grids[False], grids[True])
    if args.json:
        print(json.dumps(summary))
        return
    print(
        "| events | req/s | p50 ms | p99 ms | server CPU µs/request | worker CPU µs/event "
        "| served | stored |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")

    def label(run: dict[str, Any]) -> str:  # a pair's second run: events, or part of them
        return "off" if not run["events"] else "on" if args.stage == "full" else args.stage

    for r in runs:
        stored = r.get("stored", "-")
        worker = f"{r['worker_us_per_event']:.1f}" if label(r) != "off" else "-"
        print(
            f"| {label(r)} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | "
            f"{r['p99_ms']:.2f} | {r['cpu_us_per_request']:.0f} | {worker} | {r['served']:,} | "
            f"{stored if stored == '-' else f'{stored:,}'} |"
        )
    print(
        f"median p99: off {summary['p99_off_ms']:.2f} ms, on {summary['p99_on_ms']:.2f} ms "
        f"(ratio {summary['p99_ratio']:.3f}); every event stored: "
        f"{'-' if summary['all_events_stored'] is None else summary['all_events_stored']}"
    )
    ratios = ", ".join(f"{x:.2f}" for x in summary["p99_pair_ratios"])
    deltas = ", ".join(f"{x:+.0f}" for x in summary["cpu_us_pair_deltas"])
    print(f"each round, on/off: p99 {ratios}; server CPU µs/request {deltas}")
    rps = ", ".join(f"{x:.3f}" for x in summary["rps_pair_ratios"])
    load = f"offered about {args.rate:g} req/s" if args.rate else "saturating"
    print(f"each round, on/off: req/s {rps} ({load})")
    if args.slice is not None:
        backlog = max(r["max_backlog"] for r in on)
        print(
            f"interleaved: {on[0]['slices']} slices of {args.slice:g} s a side each round; "
            f"at most {backlog:,} events left to write at a slice's end"
        )
        p = summary["p99_pooled"]
        print(
            f"every round's slices pooled: p99 off {p['off_ms']:.2f} ms, on {p['on_ms']:.2f} ms, "
            f"ratio {p['ratio']:.3f} (95% interval {p['low']:.3f}-{p['high']:.3f}, "
            f"paired bootstrap over {p['pairs']:.0f} slice pairs)"
        )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        main()
