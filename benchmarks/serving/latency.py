"""Shipyard's server against a bare Starlette + onnxruntime endpoint, same ONNX model.

Each server runs in its own uvicorn process (one worker, access log off) on 127.0.0.1;
``wrk`` sends the same one-row Open Inference Protocol JSON request at c=1 and c=16.

    .venv/bin/python benchmarks/serving/latency.py [--seconds 10]

Needs ``wrk`` (``apt-get install -y wrk``). Prints one row per server and concurrency.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import orjson
from harness import HOST, Server, free_port, run_wrk

FEATURES = ("rooms", "area", "age")
BODY = orjson.dumps(
    {
        "inputs": [
            {"name": n, "shape": [1], "datatype": "FP32", "data": [v]}
            for n, v in zip(FEATURES, (3.0, 120.0, 20.0), strict=True)
        ]
    }
)


def onnx_session():  # type: ignore[no-untyped-def]
    import onnxruntime as ort
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    X = rng.uniform(0, 100, (500, 3))
    model = LinearRegression().fit(X, X @ [20.0, 1.5, -0.3])
    onx = convert_sklearn(model, initial_types=[("X", FloatTensorType([None, 3]))])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(
        onx.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def bare_app():  # type: ignore[no-untyped-def]
    """The floor: parse the same body, run the session inline, answer JSON."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    session = onnx_session()

    async def infer(request: Request) -> Response:
        payload = orjson.loads(await request.body())
        data = {t["name"]: t["data"] for t in payload["inputs"]}
        X = np.column_stack([np.asarray(data[n], dtype=np.float32) for n in FEATURES])
        (y,) = session.run(None, {"X": X})
        out = {"model_name": "housing", "outputs": [
            {"name": "prediction", "datatype": "FP32", "shape": [len(y)], "data": y.ravel()}
        ]}  # fmt: skip
        return Response(orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY),
                        media_type="application/json")  # fmt: skip

    async def ready(request: Request) -> Response:
        return Response(b'{"ready":true}', media_type="application/json")

    return Starlette(
        routes=[
            Route("/v2/models/housing/infer", infer, methods=["POST"]),
            Route("/v2/health/ready", ready, methods=["GET"]),
        ]
    )


def shipyard_app():  # type: ignore[no-untyped-def]
    from shipyard.bundle.signature import Signature, TensorSpec
    from shipyard.serving import InMemorySource, create_app

    session = onnx_session()

    class Housing:
        signature = Signature(
            inputs=tuple(TensorSpec(n, "FP32") for n in FEATURES),
            outputs=(TensorSpec("prediction", "FP32"),),
        )

        def predict(self, columns):  # type: ignore[no-untyped-def]
            X = np.column_stack([columns[n] for n in FEATURES])
            (y,) = session.run(None, {"X": X})
            return {"prediction": y.reshape(-1)}

    source = InMemorySource({"housing": {1: Housing()}})
    return create_app(source, endpoints={"housing": "housing:1"})


def serve(kind: str, port: int) -> None:
    import uvicorn

    from shipyard.serving import run

    if kind == "bare":
        uvicorn.run(bare_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)
    else:
        run(shipyard_app(), host="127.0.0.1", port=port, log_level="warning")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write('wrk.method = "POST"\nwrk.body = [==[' + BODY.decode() + "]==]\n")
        script = Path(f.name)
    print("| server | c | req/s | p50 ms | p99 ms |\n| --- | --- | --- | --- | --- |")
    for kind in ("bare", "shipyard"):
        port = free_port()
        server = Server(
            [sys.executable, __file__, "--serve", kind, str(port)],
            health_url=f"http://{HOST}:{port}/v2/health/ready",
            predict_url=f"http://{HOST}:{port}/v2/models/housing/infer",
            body=BODY,
        )
        try:
            server.start()
            run_wrk(server.predict_url, 1, 2, script)  # warm up
            for c in (1, 16):
                r = run_wrk(server.predict_url, c, args.seconds, script)
                print(
                    f"| {kind} | {c} | {r.rps:,.0f} | {r.p50_ms:.3f} | {r.p99_ms:.3f} |", flush=True
                )
        finally:
            server.stop()
    os.unlink(script)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        main()
