"""The peers' side of the serving benchmark (runs in ``benchmarks/.venv-peers``, never the project's venv).

    python peers.py prepare WORKDIR     log each model to MLflow, save it to BentoML's store
    python peers.py floor ONNX PORT     serve the bare FastAPI + onnxruntime floor

``prepare`` reads the scikit-learn models ``prepare.py`` pickled (scikit-learn is
pinned to the project's version, so the very same fitted objects load) and first checks
they reproduce the predictions recorded beside them. MLflow: ``mlflow.sklearn.log_model``
with its default serialization, skops, trusting exactly the types skops reports as
untrusted (HistGradientBoosting's ``TreePredictor`` and the like), an input example (so
the model has a signature and MLflow enforces it on every request), registered as
``NAME`` version 1 in a SQLite tracking store. BentoML: ``bentoml.sklearn.save_model``
into ``WORKDIR/bentoml`` (``BENTOML_HOME``); ``bento_service.py`` serves it.

The floor: FastAPI, one ``async`` route that parses the same Open Inference Protocol
JSON body Shipyard gets, runs the ONNX session inline (one thread) and answers JSON; no
validation, metrics, batching or events. uvicorn with the same settings as Shipyard's
(``access_log=False``, default loop and HTTP implementation).
"""

# no ``from __future__ import annotations``: FastAPI resolves a route's string annotations
# in the module's globals, and the floor's imports are local to ``floor_app``
import json
import os
import pickle
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np


def prepare(work: Path) -> None:
    for old in ("mlflow", "bentoml"):  # a rerun starts from empty stores
        shutil.rmtree(work / old, ignore_errors=True)
    os.environ["BENTOML_HOME"] = str(work / "bentoml")
    os.environ["BENTOML_DO_NOT_TRACK"] = "true"
    import bentoml
    import mlflow
    import skops.io

    # MLflow's hint that integer columns cannot hold missing values: true, and known here
    warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
    prepared = json.loads((work / "prepared.json").read_text())
    store = work / "mlflow"
    store.mkdir(exist_ok=True)
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    mlflow.create_experiment("serving-bench", artifact_location=(store / "artifacts").as_uri())
    mlflow.set_experiment("serving-bench")
    for name, files in prepared["models"].items():
        with open(files["pickle"], "rb") as f:
            saved: dict[str, Any] = pickle.load(f)  # written by prepare.py in this run
        model, rows = saved["model"], saved["rows"]
        got = model.predict(rows)
        if not np.array_equal(got, saved["expected"]):
            raise SystemExit(f"{name}: the unpickled model predicts differently; versions differ?")
        trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
        with mlflow.start_run(run_name=name):
            mlflow.sklearn.log_model(
                model,
                name="model",
                input_example=rows.head(5),
                registered_model_name=name,
                skops_trusted_types=trusted,
            )
        bentoml.sklearn.save_model(name, model)
        print(f"{name}: MLflow models:/{name}/1 (skops, trusting {len(trusted)} types), "
              f"BentoML {name}:latest")  # fmt: skip


def floor_app(onnx_path: str):  # type: ignore[no-untyped-def]
    import onnxruntime as ort
    import orjson
    from fastapi import FastAPI, Request, Response

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    dtypes = {"tensor(double)": np.float64, "tensor(float)": np.float32,
              "tensor(int64)": np.int64, "tensor(string)": object}  # fmt: skip
    graph_inputs = [(i.name, dtypes[i.type]) for i in session.get_inputs()]
    matrix = len(graph_inputs) == 1 and graph_inputs[0][0] == "X"
    app = FastAPI()

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request) -> Response:
        payload = orjson.loads(await request.body())
        data = {t["name"]: t["data"] for t in payload["inputs"]}
        if matrix:
            feeds = {"X": np.array(list(data.values()), dtype=np.float64).T}
        else:
            feeds = {n: np.asarray(data[n], dtype=d).reshape(-1, 1) for n, d in graph_inputs}
        (y,) = session.run(None, feeds)
        y = y.reshape(-1)
        out = {"model_name": name, "outputs": [
            {"name": "prediction", "datatype": "FP64", "shape": [len(y)], "data": y}
        ]}  # fmt: skip
        body = orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY)
        return Response(body, media_type="application/json")

    @app.get("/v2/health/ready")
    async def ready() -> dict[str, bool]:
        return {"ready": True}

    return app


def main(argv: list[str]) -> None:
    if len(argv) == 2 and argv[0] == "prepare":
        prepare(Path(argv[1]).resolve())
    elif len(argv) == 3 and argv[0] == "floor":
        import uvicorn

        app = floor_app(argv[1])
        uvicorn.run(app, host="127.0.0.1", port=int(argv[2]), log_level="warning",
                    access_log=False)  # fmt: skip
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
