"""Where a Shipyard request's time goes without HTTP: the ASGI app called directly, no socket.

Calls Shipyard's app (the registry's bundle, as ``shipyard serve`` loads it, without
monitoring) and a bare Starlette handler over the same ONNX graph with one-row Open
Inference Protocol bodies, one request at a time and 32 at a time, and reports wall and
CPU microseconds per request (medians of 5 alternated rounds). Two variants price parts
of the request path by patching them out in this process only: ``inline`` predicts on
the event loop instead of the batch thread, ``novalidate`` skips
``validate_columns``. It also times today's decode + validation of the body against a
sketch of a scalar path for small JSON tensors. With ``--profile`` it prints where the time goes (cProfile).
Run ``compare.py`` (or ``prepare.py``) first: it reads ``.work/prepared.json``.

    .venv/bin/python benchmarks/serving/asgi_cost.py [--model hgb] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import math
import pstats
import statistics
import time
import timeit
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from harness import lua_body

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def scope_for(path: str, body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def request(app: App, path: str, body: bytes) -> int:
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope_for(path, body), receive, send)
    return status


async def per_request_us(app: App, path: str, body: bytes, concurrency: int, n: int) -> float:
    return (await cost_us(app, path, body, concurrency, n))[0]


async def cost_us(
    app: App, path: str, body: bytes, concurrency: int, n: int
) -> tuple[float, float]:
    """Wall and CPU (this process, all threads) microseconds per request."""
    for _ in range(200):
        assert await request(app, path, body) == 200
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n // concurrency):
        codes = await asyncio.gather(*(request(app, path, body) for _ in range(concurrency)))
        assert all(c == 200 for c in codes), codes
    done = n // concurrency * concurrency
    return (time.perf_counter() - wall) / done * 1e6, (time.process_time() - cpu) / done * 1e6


def set_variant(variant: str) -> None:
    """Patch this process's Shipyard request path (never the installed code) for a variant."""
    from shipyard.serving import batching, inference
    from shipyard.serving.errors import PredictionFailed

    async def inline(self, columns, rows, timeout_s):  # type: ignore[no-untyped-def]
        out = self._predict_one(columns, rows)
        if isinstance(out, BaseException):
            raise PredictionFailed(self.label, out)
        return out

    batching.Batcher.predict = inline if variant == "inline" else _ORIGINAL["predict"]
    inference.validate_columns = (
        (lambda columns, signature, max_rows: (dict(columns), 1))
        if variant == "novalidate"
        else _ORIGINAL["validate"]
    )


def scalar_columns(body: bytes, signature: Any) -> dict[str, np.ndarray]:
    """A sketch of a scalar path for small JSON tensors: checks on Python values, one array each.

    Same checks as ``validation.coerce`` for these models (numbers of the right kind,
    finite, within range; strings among the categories); not a complete implementation.
    """
    from shipyard.bundle.signature import DATATYPES

    tensors = {t["name"]: t for t in orjson.loads(body)["inputs"]}
    columns = {}
    for spec in signature.inputs:
        data = tensors[spec.name]["data"]
        if spec.datatype == "BYTES":
            allowed = spec.categories
            if any(type(v) is not str or (allowed and v not in allowed) for v in data):
                raise ValueError(spec.name)
            columns[spec.name] = np.array(data, dtype=object)
            continue
        integer = spec.datatype.startswith(("INT", "UINT"))
        for v in data:
            if type(v) is int or (type(v) is float and not integer and math.isfinite(v)):
                continue
            raise ValueError(spec.name)
        if (spec.minimum is not None and min(data) < spec.minimum) or (
            spec.maximum is not None and max(data) > spec.maximum
        ):
            raise ValueError(spec.name)
        columns[spec.name] = np.array(data, dtype=DATATYPES[spec.datatype])
    return columns


def decode_costs(body: bytes, signature: Any) -> None:
    """Today's decode + validation against the scalar sketch, on the same body."""
    from shipyard.serving import oip
    from shipyard.serving.validation import validate_columns

    def today() -> dict[str, np.ndarray]:
        request = oip.decode_request(body, None)
        return validate_columns(request.inputs, signature, max_rows=10_000)[0]

    a, b = today(), scalar_columns(body, signature)
    assert all(np.array_equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
    for label, fn in (
        ("decode + validate today", today),
        ("scalar sketch", lambda: scalar_columns(body, signature)),
    ):
        us = min(timeit.repeat(fn, number=2000, repeat=5)) / 2000 * 1e6
        print(f"{label:24} {us:6.1f} us (identical arrays)")


_ORIGINAL: dict[str, Any] = {}
VARIANTS = ("bare", "shipyard", "inline", "novalidate")


def bare_app(onnx_file: str) -> App:
    """The floor's handler on Starlette (FastAPI is not in the project venv)."""
    import onnxruntime as ort
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx_file, options, providers=["CPUExecutionProvider"])
    dtypes = {"tensor(double)": np.float64, "tensor(int64)": np.int64, "tensor(string)": object}
    inputs = [(i.name, dtypes[i.type]) for i in session.get_inputs()]
    matrix = len(inputs) == 1 and inputs[0][0] == "X"

    async def infer(request: Request) -> Response:
        payload = orjson.loads(await request.body())
        data = {t["name"]: t["data"] for t in payload["inputs"]}
        if matrix:
            feeds = {"X": np.array(list(data.values()), dtype=np.float64).T}
        else:
            feeds = {n: np.asarray(data[n], dtype=d).reshape(-1, 1) for n, d in inputs}
        (y,) = session.run(None, feeds)
        out = {"model_name": "m", "outputs": [
            {"name": "prediction", "datatype": "FP64", "shape": [y.size], "data": y.reshape(-1)}
        ]}  # fmt: skip
        return Response(orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY),
                        media_type="application/json")  # fmt: skip

    return Starlette(routes=[Route("/v2/models/{name}/infer", infer, methods=["POST"])])


async def main_async(args: argparse.Namespace) -> None:
    from shipyard.project import Project
    from shipyard.registry import Registry
    from shipyard.serving import create_app
    from shipyard.serving.source import RegistrySource

    prepared = json.loads((WORK / "prepared.json").read_text())
    project = Project.open(prepared["project"])
    reference = "housing:1" if args.model == "housing" else "hgb:1"
    body = lua_body(HERE / "lua" / f"{args.model}_oip.lua")
    path = f"/v2/models/{args.model}/infer"
    shipyard = create_app(
        RegistrySource(Registry(project)),
        spec=project.settings.serving,
        endpoints={args.model: reference},
    )
    bare = bare_app(prepared["models"][args.model]["onnx"])
    from shipyard.serving import batching, inference

    _ORIGINAL.update(predict=batching.Batcher.predict, validate=inference.validate_columns)
    results: dict[tuple[str, int], list[tuple[float, float]]] = {}
    async with shipyard.router.lifespan_context(shipyard):
        for _ in range(args.rounds):
            for variant in VARIANTS:
                set_variant(variant)
                app = bare if variant == "bare" else shipyard
                for c in (1, 32):
                    got = await cost_us(app, path, body, c, args.requests)
                    results.setdefault((variant, c), []).append(got)
        set_variant("shipyard")
        decode_costs(body, shipyard.state.server.runtime.get(reference.split(":")[0]).signature)
        for (variant, c), runs in results.items():
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            print(f"{args.model:8} {variant:11} c={c:<3} wall {wall:6.1f} us  CPU {cpu:6.1f} us")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            await per_request_us(shipyard, path, body, 1, args.requests)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("housing", "hgb"), default="housing")
    parser.add_argument("--requests", type=int, default=1600, help="per round and cell")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
