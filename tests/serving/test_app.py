"""The app's routes: health, metadata, MLflow scoring, metrics, OpenAPI, prediction events."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

import httpx
import numpy as np
import orjson
import pytest
from starlette.routing import Route

from shipyard.config import ServingSpec
from shipyard.serving import (
    Decision,
    InMemorySource,
    PredictionEvent,
    RouteContext,
    Variant,
    create_app,
)

from .servers import TestClient, make_app
from .serving_models import churn_model, housing_expected, housing_model

ROWS = np.array([[3.0, 120.0, 20.0], [5.0, 250.0, 3.0]])
EXPECTED = housing_expected(housing_model(1.0), ROWS)
CHURN_ROWS = [[2.0, "basic", 3, True], [40.0, "enterprise", 120, False]]


def oip_body(rows: np.ndarray = ROWS) -> bytes:
    return orjson.dumps(
        {
            "inputs": [
                {"name": n, "shape": [len(rows)], "datatype": "FP32", "data": rows[:, j].tolist()}
                for j, n in enumerate(("rooms", "area", "age"))
            ]
        }
    )


def test_health_and_server_metadata(client: TestClient) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2").json() == {
        "name": "shipyard",
        "version": "0.1.0",
        "extensions": ["binary_tensor_data", "model_repository"],
    }
    assert client.get("/ping").status_code == 200
    assert client.get("/health").status_code == 200
    assert client.get("/version").text == "0.1.0"


def test_model_list_and_metadata(client: TestClient) -> None:
    models = client.get("/v2/models").json()["models"]
    assert [m["name"] for m in models] == ["housing", "churn", "fragile"]
    meta = client.get("/v2/models/churn").json()
    assert meta["platform"] == "test"
    assert meta["inputs"][1] == {"name": "plan", "datatype": "BYTES", "shape": [-1]}
    assert meta["outputs"][1] == {"name": "probability", "datatype": "FP64", "shape": [-1, 2]}
    assert client.get("/v2/models/churn/versions/1").json()["versions"] == ["1"]
    assert client.get("/v2/models/churn/ready").json() == {"name": "churn", "ready": True}
    missing = client.get("/v2/models/nope")
    assert missing.status_code == 404 and "model 'nope'" in missing.json()["error"]
    assert client.get("/v2/models/churn/versions/7/ready").status_code == 404


def test_unknown_path_and_method_answer_in_the_error_shape(client: TestClient) -> None:
    assert client.get("/nowhere").json() == {"error": "Not Found"}
    wrong = client.get("/v2/models/housing/infer")
    assert wrong.status_code == 405 and wrong.json() == {"error": "Method Not Allowed"}


@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_split": {"columns": ["rooms", "area", "age"], "data": ROWS.tolist()}},
        {
            "dataframe_split": {
                "index": [7, 8],
                "columns": ["age", "rooms", "area"],
                "data": ROWS[:, [2, 0, 1]].tolist(),
            }
        },
        {
            "dataframe_records": [
                dict(zip(("rooms", "area", "age"), r, strict=True)) for r in ROWS.tolist()
            ]
        },
        {"instances": ROWS.tolist()},
        {"instances": [dict(zip(("rooms", "area", "age"), r, strict=True)) for r in ROWS.tolist()]},
        {
            "inputs": {
                "rooms": ROWS[:, 0].tolist(),
                "area": ROWS[:, 1].tolist(),
                "age": ROWS[:, 2].tolist(),
            }
        },
        {"inputs": ROWS.tolist(), "params": {"ignored": True}},
    ],
    ids=[
        "split",
        "split-reordered",
        "records",
        "instances-rows",
        "instances-records",
        "inputs-columns",
        "inputs-rows",
    ],
)
def test_mlflow_json_formats_predict_the_same(client: TestClient, payload: dict) -> None:
    response = client.post("/invocations", json=payload)
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(response.json()["predictions"], EXPECTED, rtol=1e-6)


def test_mlflow_csv_and_multi_output_models(client: TestClient) -> None:
    csv = b"rooms,area,age\n3,120,20\n5,250,3\n"
    response = client.post("/invocations", content=csv, headers={"content-type": "text/csv"})
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(response.json()["predictions"], EXPECTED, rtol=1e-6)
    split = {
        "dataframe_split": {"columns": ["tenure", "plan", "seats", "active"], "data": CHURN_ROWS}
    }
    churn = client.post("/endpoints/churn/invocations", json=split).json()["predictions"]
    columns = {
        "tenure": np.array([2.0, 40.0]),
        "plan": np.array(["basic", "enterprise"], dtype=object),
        "seats": np.array([3, 120]),
        "active": np.array([True, False]),
    }
    expected = churn_model().predict(columns)
    assert churn["label"] == list(expected["label"])
    np.testing.assert_allclose(churn["probability"], expected["probability"], rtol=1e-12)
    text = "tenure,plan,seats,active\n2,basic,3,true\n40,enterprise,120,false\n"
    from_csv = client.post(
        "/endpoints/churn/invocations",
        content=text,
        headers={"content-type": "text/csv; charset=utf-8"},
    )
    assert from_csv.json()["predictions"] == churn


def test_nullable_feature_takes_null(client: TestClient) -> None:
    response = client.post(
        "/invocations", json={"dataframe_records": [{"rooms": 3, "area": 120, "age": None}]}
    )
    assert response.status_code == 200
    assert response.json()["predictions"] == [None]  # the linear model's NaN, as JSON null


def test_metrics_are_prometheus_text_with_shipyard_names(client: TestClient) -> None:
    client.post("/v2/models/housing/infer", content=oip_body())
    client.post("/v2/models/housing/infer", content=b"{")
    text = client.get("/metrics").text
    for name in (
        "shipyard_inference_requests_total",
        "shipyard_inference_request_duration_seconds_bucket",
        "shipyard_inference_queue_duration_seconds_bucket",
        "shipyard_inference_batch_size_bucket",
        "shipyard_inference_requests_in_flight",
        "shipyard_process_cpu_seconds_total",
        "shipyard_process_resident_memory_bytes",
    ):
        assert f"\n{name}" in text, name
    assert (
        'shipyard_inference_requests_total{code="400",endpoint="housing",'
        'model_version="housing:1",variant="default"}' in text
    )
    assert "request_id" not in text


def test_openapi_documents_every_route() -> None:
    app = make_app()
    with TestClient(app) as client:
        document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    served = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route)
        for method in (route.methods or ()) - {"HEAD"}
    }
    assert documented == served
    infer = document["paths"]["/v2/models/{name}/infer"]["post"]
    assert infer["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "InferenceRequest"
    )
    assert document["paths"]["/management/models"]["get"]["security"] == [{"bearer": []}]


def test_prediction_event_is_queued_with_the_response_and_what_was_served() -> None:
    events: list[PredictionEvent] = []
    sent = threading.Event()

    def hook(event: PredictionEvent) -> None:
        sent.set()
        events.append(event)

    app = create_app(
        InMemorySource({"housing": {1: housing_model(1.0)}}),
        endpoints={"housing": "housing:1"},
        on_prediction=hook,
    )
    order: list[str] = []

    async def main() -> httpx.Response:
        async with app.router.lifespan_context(app):

            async def send(message: dict) -> None:
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    order.append("hook before body" if sent.is_set() else "body sent first")

            scope = {
                "type": "http",
                "method": "POST",
                "path": "/v2/models/housing/infer",
                "raw_path": b"/v2/models/housing/infer",
                "query_string": b"",
                "root_path": "",
                "headers": [(b"x-request-id", b"req-42")],
                "http_version": "1.1",
                "scheme": "http",
                "server": ("t", 80),
                "client": ("c", 1),
                "app": app,
            }
            body = oip_body()

            async def receive() -> dict:
                return {"type": "http.request", "body": body, "more_body": False}

            await app(scope, receive, send)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return await client.post("/invocations", json={"instances": ROWS.tolist()})

    response = asyncio.run(main())
    # the hook only queues (it must not block): called as the response is built, so an
    # event is never lost to a client that hangs up before the last byte
    assert order == ["hook before body"]
    assert response.status_code == 200
    first = events[0]
    assert (first.request_id, first.endpoint, first.model_name, first.model_version) == (
        "req-42",
        "housing",
        "housing",
        1,
    )
    assert first.variant == "default" and not first.shadow
    np.testing.assert_array_equal(first.inputs["rooms"], ROWS[:, 0].astype(np.float32))
    np.testing.assert_allclose(first.outputs["prediction"], EXPECTED, rtol=1e-6)
    assert 0 < first.latency_s < 5
    assert len(events) == 2


def test_a_failing_hook_never_reaches_the_caller() -> None:
    def hook(event: PredictionEvent) -> None:
        raise RuntimeError("sink down")

    app = create_app(
        InMemorySource({"housing": {1: housing_model(1.0)}}),
        endpoints={"housing": "housing:1"},
        on_prediction=hook,
    )
    with TestClient(app) as client:
        assert client.post("/v2/models/housing/infer", content=oip_body()).status_code == 200
        assert client.post("/v2/models/housing/infer", content=oip_body()).status_code == 200


def test_readiness_fails_while_draining_but_requests_are_still_served() -> None:
    app = make_app()
    with TestClient(app) as client:
        app.state.server.begin_drain()
        assert client.get("/v2/health/ready").status_code == 503
        assert client.get("/ping").status_code == 503
        assert client.get("/v2/health/live").status_code == 200
        assert client.post("/v2/models/housing/infer", content=oip_body()).status_code == 200


def test_startup_fails_on_an_endpoint_whose_model_is_missing() -> None:
    app = create_app(
        InMemorySource({"housing": {1: housing_model(1.0)}}),
        spec=ServingSpec(),
        endpoints={"housing": "housing:7"},
    )
    with pytest.raises(LookupError), TestClient(app):
        pass


def test_shadow_variant_is_predicted_after_the_response_and_never_returned() -> None:
    events: list[PredictionEvent] = []
    app = create_app(
        InMemorySource({"housing": {1: housing_model(1.0), 2: housing_model(2.0)}}),
        endpoints={"housing": "housing:1"},
        on_prediction=events.append,
    )
    primary = Variant("default", "housing:1", "housing", 1)
    shadow = Variant("shadow", "housing:2", "housing", 2)

    @dataclass(frozen=True)
    class Mirrored:
        kind: str = "shadow"

        @property
        def variants(self) -> tuple[Variant, ...]:
            return (primary, shadow)

        def choose(self, context: RouteContext) -> Decision:
            return Decision(primary, mirrors=(shadow,))

        def to_dict(self) -> dict[str, object]:
            return {"policy": self.kind}

    with TestClient(app) as client:
        client.portal.call(app.state.server.runtime.load, "housing:2")
        app.state.server.router.assign("housing", Mirrored())
        response = client.post("/v2/models/housing/infer", content=oip_body())
    assert response.headers["x-shipyard-model-version"] == "1"
    np.testing.assert_allclose(response.json()["outputs"][0]["data"], EXPECTED, rtol=1e-6)
    assert [(e.model_version, e.variant, e.shadow) for e in events] == [
        (1, "default", False),
        (2, "shadow", True),
    ]
    np.testing.assert_allclose(
        events[1].outputs["prediction"], housing_expected(housing_model(2.0), ROWS), rtol=1e-6
    )


def test_generated_request_ids_are_unique_and_grow_with_time() -> None:
    from shipyard.serving.inference import new_request_id

    ids = [new_request_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    # the time prefix orders them (ties within a microsecond differ in the random part)
    assert [i[:14] for i in ids] == sorted(i[:14] for i in ids)
