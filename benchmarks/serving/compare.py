"""Shipyard's server against MLflow, BentoML and a bare FastAPI + onnxruntime floor, side by side.

Two models (``prepare.py``): the housing example's pipeline (ColumnTransformer + HGB) and
a plain HistGradientBoostingRegressor on its numeric features. Each server runs alone,
one worker, on 127.0.0.1; for each it records the time from spawn to the first 200 on
a predict request (health route polled every 20 ms; the median of three spawns),
checks that the answer equals scikit-learn's prediction for the same row, then runs
``wrk`` (one thread, 2 s warm-up at c=1) at c=1 and c=32. Every request is one row in the server's own JSON format; the wrk
scripts are ``lua/<model>_<protocol>.lua``. The in-process rows are the limit: the
model's own ``predict`` called in a loop in one process, no HTTP. Every process runs
with ``OMP_NUM_THREADS=1`` (one worker, one core).

    make -C benchmarks serving                     # setup, prepare, measure (~10 min)
    .venv/bin/python benchmarks/serving/compare.py [--seconds 10] [--json out.json]

Needs ``wrk`` (``apt-get install -y wrk``) and ``benchmarks/.venv-peers`` (the Makefile
makes it). Working files go to ``benchmarks/serving/.work``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from harness import (
    HOST,
    Server,
    Startup,
    WrkResult,
    free_port,
    load_average,
    lua_body,
    post,
    run_wrk,
)

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
LUA = HERE / "lua"
PROJECT_BIN = Path(sys.executable).parent
PEERS_BIN = HERE.parent / ".venv-peers" / "bin"
CONCURRENCY = (1, 32)


@dataclass(frozen=True)
class Contender:
    """One server under test for one model."""

    label: str
    kind: str  # floor | shipyard | mlflow | bentoml
    protocol: str  # oip | mlflow | bentoml: which lua script and answer shape
    reference: str | None = None  # the registry reference Shipyard serves
    options: tuple[str, ...] = ()  # shipyard's root options, e.g. --set KEY=VALUE


# `shipyard serve` records prediction events and watches drift (monitoring.enabled, the
# default); the "events off" rows price that against the same server without it.
EVENTS_OFF = ("--set", "monitoring.enabled=false")
LINEUP: dict[str, list[Contender]] = {
    "housing": [
        Contender("FastAPI + onnxruntime (floor)", "floor", "oip"),
        Contender("shipyard serve", "shipyard", "oip", "housing:1"),
        Contender("shipyard serve, events off", "shipyard", "oip", "housing:1", EVENTS_OFF),
        Contender("mlflow models serve", "mlflow", "mlflow"),
        Contender("BentoML", "bentoml", "bentoml"),
    ],
    "hgb": [
        Contender("FastAPI + onnxruntime (floor)", "floor", "oip"),
        Contender("shipyard serve hgb:1 (ONNX form)", "shipyard", "oip", "hgb:1"),
        Contender("shipyard serve hgb:1, events off", "shipyard", "oip", "hgb:1", EVENTS_OFF),
        Contender("shipyard serve hgb:2 (scikit-learn form)", "shipyard", "oip", "hgb:2"),
        Contender("mlflow models serve", "mlflow", "mlflow"),
        Contender("BentoML", "bentoml", "bentoml"),
    ],
}


@dataclass
class Row:
    model: str
    label: str
    kind: str
    startup: Startup | None = None  # the median of ``startups`` spawns, by first predict
    startups: list[Startup] = field(default_factory=list)
    runs: dict[int, WrkResult] = field(default_factory=dict)
    note: str = ""


# ---------------------------------------------------------------- servers


def server_for(model: str, who: Contender, prepared: dict[str, Any], port: int) -> Server:
    project = prepared["project"]
    base = f"http://{HOST}:{port}"
    script = LUA / f"{model}_{who.protocol}.lua"
    oip = {
        "health_url": f"{base}/v2/health/ready",
        "predict_url": f"{base}/v2/models/{model}/infer",
    }
    events = "-events-off" if who.options else ""
    log = WORK / "logs" / f"{model}-{who.kind}-{who.reference or ''}{events}.log"
    log.parent.mkdir(exist_ok=True)
    common: dict[str, Any] = {"body": lua_body(script), "log": log}
    if who.kind == "floor":
        onnx = prepared["models"][model]["onnx"]
        argv = [str(PEERS_BIN / "python"), str(HERE / "peers.py"), "floor", onnx, str(port)]
        return Server(argv, **oip, **common)
    if who.kind == "shipyard":
        argv = [str(PROJECT_BIN / "shipyard"), "-C", project, *who.options, "serve",
                f"{model}={who.reference}", "--port", str(port)]  # fmt: skip
        return Server(argv, **oip, **common)
    if who.kind == "mlflow":
        argv = [str(PEERS_BIN / "mlflow"), "models", "serve", "-m", f"models:/{model}/1",
                "--env-manager", "local", "-w", "1", "-h", HOST, "-p", str(port)]  # fmt: skip
        env = {
            "MLFLOW_TRACKING_URI": f"sqlite:///{WORK / 'mlflow' / 'mlflow.db'}",
            # MLflow execs a bare `uvicorn`: it must find the venv's
            "PATH": f"{PEERS_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        return Server(argv, health_url=f"{base}/ping", predict_url=f"{base}/invocations",
                      env=env, **common)  # fmt: skip
    if who.kind == "bentoml":
        argv = [str(PEERS_BIN / "bentoml"), "serve", "bento_service:Model",
                "--host", HOST, "--port", str(port)]  # fmt: skip
        env = {
            "BENTOML_HOME": str(WORK / "bentoml"),
            "BENCH_BENTO_MODEL": f"{model}:latest",
            "BENTOML_DO_NOT_TRACK": "true",
            "PATH": f"{PEERS_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        return Server(argv, health_url=f"{base}/readyz", predict_url=f"{base}/predict",
                      env=env, cwd=HERE, **common)  # fmt: skip
    raise ValueError(who.kind)


def prediction_of(protocol: str, answer: bytes) -> float:
    """The one predicted value in a server's answer."""
    data = orjson.loads(answer)
    if protocol == "oip":
        return float(data["outputs"][0]["data"][0])
    if protocol == "mlflow":
        return float(data["predictions"][0])
    return float(data[0])  # BentoML: the returned array as a JSON list


def expected_prediction(model: str, prepared: dict[str, Any]) -> float:
    """scikit-learn's prediction for the row the wrk scripts send."""
    import pandas as pd

    body = orjson.loads(lua_body(LUA / f"{model}_bentoml.lua"))  # records: easiest to read
    with open(prepared["models"][model]["pickle"], "rb") as f:
        saved = pickle.load(f)  # written by prepare.py in this run
    return float(saved["model"].predict(pd.DataFrame(body["data"]))[0])


def measure(
    model: str, who: Contender, prepared: dict[str, Any], seconds: int, startups: int
) -> Row:
    row = Row(model, who.label, who.kind)
    script = LUA / f"{model}_{who.protocol}.lua"
    server = server_for(model, who, prepared, free_port())
    try:
        for _ in range(startups - 1):  # start-up alone: spawn, first 200, stop
            row.startups.append(server.start())
            server.stop()
            server = server_for(model, who, prepared, free_port())
        row.startups.append(server.start())
        row.startup = sorted(row.startups, key=lambda s: s.first_predict_s)[len(row.startups) // 2]
        status, answer = post(server.predict_url, server.body)
        got, want = prediction_of(who.protocol, answer), expected_prediction(model, prepared)
        if status != 200 or abs(got - want) > 1e-4 * max(abs(want), 1.0):
            raise RuntimeError(f"{who.label} answered {status} {got!r}; scikit-learn says {want!r}")
        run_wrk(server.predict_url, 1, 2, script)  # warm-up
        for c in CONCURRENCY:
            cpu = server.cpu_seconds()
            result = run_wrk(server.predict_url, c, seconds, script)
            used = (server.cpu_seconds() - cpu) / max(result.requests, 1) * 1e6
            result = dataclasses.replace(result, server_cpu_us=used)
            if result.errors:
                row.note = f"{result.errors} errors at c={c}"
            row.runs[c] = result
            print(f"  {model:8} {who.label:42} c={c:<3} {result.rps:9,.0f} req/s "
                  f"p50 {result.p50_ms:7.3f} ms  p99 {result.p99_ms:8.3f} ms  "
                  f"server CPU {used:7.0f} us/req", flush=True)  # fmt: skip
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        row.note = f"failed: {exc}"[:300]
        print(f"  {model:8} {who.label:42} {row.note}", flush=True)
    finally:
        server.stop()
    return row


# ---------------------------------------------------------------- in process


def in_process(model: str, prepared: dict[str, Any], seconds: float) -> list[Row]:
    """The model's own predict on the same one row, in a loop: scikit-learn, then Shipyard's ONNX form."""
    import numpy as np
    import pandas as pd

    from shipyard.bundle.signature import DATATYPES
    from shipyard.project import Project
    from shipyard.registry import Registry

    body = orjson.loads(lua_body(LUA / f"{model}_bentoml.lua"))
    frame = pd.DataFrame(body["data"])
    with open(prepared["models"][model]["pickle"], "rb") as f:
        sk = pickle.load(f)["model"]
    onnx_ref = "housing:1" if model == "housing" else "hgb:1"
    loaded = Registry(Project.open(prepared["project"])).load(onnx_ref)
    columns = {
        t.name: np.asarray(frame[t.name].to_numpy(), dtype=DATATYPES[t.datatype])
        for t in loaded.signature.inputs
    }
    rows = []
    for label, call in (
        ("in-process scikit-learn predict (DataFrame)", lambda: sk.predict(frame)),
        (f"in-process Shipyard ONNX predict ({onnx_ref})", lambda: loaded.predict(columns)),
    ):
        times = _time_calls(call, seconds)
        rps = len(times) / sum(times)
        result = WrkResult(1, len(times), rps, _pct(times, 50), _pct(times, 99), 0)
        rows.append(Row(model, label, "in-process", runs={1: result}))
        print(f"  {model:8} {label:42} c=1   {rps:9,.0f} calls/s p50 {result.p50_ms:7.3f} ms  "
              f"p99 {result.p99_ms:8.3f} ms", flush=True)  # fmt: skip
    return rows


def _time_calls(call: Any, seconds: float) -> list[float]:
    for _ in range(50):
        call()
    times = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return times


def _pct(times: list[float], p: int) -> float:
    return statistics.quantiles(times, n=100)[p - 1] * 1000 if p < 100 else max(times) * 1000


# ---------------------------------------------------------------- report


def ratios(rows: list[Row]) -> list[dict[str, Any]]:
    """Each Shipyard row's req/s over MLflow's, BentoML's and the floor's, per concurrency."""
    out = []
    for model in dict.fromkeys(r.model for r in rows):
        mine = [r for r in rows if r.model == model]
        peers = {r.kind: r for r in mine if r.kind in ("mlflow", "bentoml", "floor") and r.runs}
        for r in mine:
            if not r.kind.startswith("shipyard") or not r.runs:
                continue
            for c in CONCURRENCY:
                entry: dict[str, Any] = {"model": model, "server": r.label, "c": c}
                for kind, peer in peers.items():
                    if c in peer.runs and c in r.runs:
                        entry[kind] = r.runs[c].rps / peer.runs[c].rps
                floor = peers.get("floor")
                mine_cpu = r.runs[c].server_cpu_us if c in r.runs else None
                floor_cpu = floor.runs[c].server_cpu_us if floor and c in floor.runs else None
                if mine_cpu and floor_cpu:
                    entry["cpu_vs_floor"] = mine_cpu / floor_cpu
                entry["p50_ms"] = r.runs[c].p50_ms if c in r.runs else None
                entry["startup_s"] = r.startup.first_predict_s if r.startup else None
                if peers:
                    out.append(entry)
    return out


def cpu_per_request(row: Row) -> float | None:
    """The server's CPU µs per request at c=32; for in-process rows, the mean call time."""
    if row.kind == "in-process":
        return 1e6 / row.runs[1].rps
    run = row.runs.get(CONCURRENCY[-1])
    return run.server_cpu_us if run else None


def markdown(rows: list[Row], rel: list[dict[str, Any]]) -> str:
    lines = [
        "| model | server | c=1 req/s | c=1 p50 ms | c=1 p99 ms | c=32 req/s | c=32 p50 ms "
        "| c=32 p99 ms | c=32 server CPU µs/req | start to first 200 s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        cells = []
        for c in CONCURRENCY:
            w = r.runs.get(c)
            cells += [f"{w.rps:,.0f}", f"{w.p50_ms:.3f}", f"{w.p99_ms:.2f}"] if w else ["—"] * 3
        cpu = cpu_per_request(r)
        cells.append(f"{cpu:,.0f}" if cpu is not None else "—")
        start = f"{r.startup.first_predict_s:.2f}" if r.startup else "—"
        label = r.label + (f" ({r.note})" if r.note else "")
        lines.append(f"| {r.model} | {label} | {' | '.join(cells)} | {start} |")
    lines += [
        "",
        "| model | Shipyard server | c | req/s vs MLflow | vs BentoML | of the floor "
        "| CPU/req vs the floor's |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for e in rel:
        times = [f"{e[k]:.1f}x" if k in e else "—" for k in ("mlflow", "bentoml")]
        floor = f"{e['floor']:.0%}" if "floor" in e else "—"
        cpu = f"{e['cpu_vs_floor']:.2f}x" if "cpu_vs_floor" in e else "—"
        lines.append(f"| {e['model']} | {e['server']} | {e['c']} | {' | '.join(times)} | "
                     f"{floor} | {cpu} |")  # fmt: skip
    return "\n".join(lines)


def versions() -> dict[str, str]:
    code = ("import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
            "['mlflow', 'bentoml', 'fastapi', 'uvicorn', 'starlette', 'onnxruntime', "
            "'scikit-learn']}))")  # fmt: skip
    peers = json.loads(subprocess.run([str(PEERS_BIN / "python"), "-c", code],
                                      capture_output=True, text=True, check=True).stdout)  # fmt: skip
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    return {**{f"peers {k}": v for k, v in peers.items()}, "wrk": wrk.strip(),
            "python": platform.python_version()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per cell")
    parser.add_argument("--models", nargs="+", default=list(LINEUP), choices=list(LINEUP))
    parser.add_argument("--only", nargs="+", metavar="KIND", help="server kinds to run")
    parser.add_argument("--startups", type=int, default=3, help="spawns per server (median)")
    parser.add_argument("--skip-prepare", action="store_true", help="reuse .work's models")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()

    started = datetime.now(UTC)
    load_before = os.getloadavg()
    print(f"load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"{os.cpu_count()} cores", flush=True)  # fmt: skip
    if not args.skip_prepare:
        subprocess.run([sys.executable, str(HERE / "prepare.py"), str(WORK)], check=True)
        subprocess.run([str(PEERS_BIN / "python"), str(HERE / "peers.py"), "prepare", str(WORK)],
                       check=True)  # fmt: skip
    prepared = json.loads((WORK / "prepared.json").read_text())
    # One worker is one core: no OpenMP team for scikit-learn's one-row predicts (it only
    # spins on a shared machine), in this process and every server (they inherit it)
    os.environ["OMP_NUM_THREADS"] = "1"
    rows: list[Row] = []
    for model in args.models:
        rows += in_process(model, prepared, min(args.seconds, 3))
        for who in LINEUP[model]:
            if args.only is None or who.kind in args.only:
                rows.append(measure(model, who, prepared, args.seconds, args.startups))
    rel = ratios(rows)
    print()
    print(markdown(rows, rel))
    meta = {
        "date": started.isoformat(timespec="seconds"),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "cores": os.cpu_count(),
        "seconds_per_cell": args.seconds,
        "versions": versions(),
        "command": " ".join(sys.argv),
    }
    print(f"\nload average after {load_average():.2f}; {json.dumps(meta['versions'])}")
    if args.json:
        args.json.write_text(json.dumps(
            {**meta, "rows": [asdict(r) for r in rows], "ratios": rel}, indent=2
        ))  # fmt: skip


if __name__ == "__main__":
    main()
