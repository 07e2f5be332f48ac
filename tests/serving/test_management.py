"""Management API: bearer token, load by reference only, unload, routing and hot swap."""

from __future__ import annotations

import asyncio
import time

import httpx
import numpy as np
import orjson
import pytest

from shipyard.config import ServingSpec
from shipyard.serving import InMemorySource, create_app

from .servers import TOKEN, TestClient, make_app
from .serving_models import Recording, housing_expected, housing_model

AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROW = np.array([[3.0, 120.0, 20.0]], dtype=np.float32)
BODY = orjson.dumps(
    {
        "inputs": [
            {"name": n, "shape": [1], "datatype": "FP32", "data": [float(v)]}
            for n, v in zip(("rooms", "area", "age"), ROW[0], strict=True)
        ]
    }
)

ROUTES = [
    ("GET", "/management/models"),
    ("POST", "/management/models"),
    ("DELETE", "/management/models/housing/versions/1"),
    ("GET", "/management/endpoints"),
    ("PUT", "/management/endpoints/housing"),
    ("DELETE", "/management/endpoints/housing"),
    ("POST", "/v2/repository/index"),
    ("POST", "/v2/repository/models/housing/load"),
    ("POST", "/v2/repository/models/housing/unload"),
]


@pytest.fixture
def manage() -> TestClient:
    with TestClient(make_app(), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_management_needs_the_bearer_token(manage: TestClient, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = manage.request(method, path, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"].startswith("management routes need a valid bearer token")


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_management_is_disabled_without_a_configured_token(method: str, path: str) -> None:
    with TestClient(make_app(token=None), raise_server_exceptions=False) as client:
        response = client.request(method, path, headers=AUTH)
    assert response.status_code == 403
    assert response.json()["error"].startswith("management disabled")


def test_load_list_and_unload_a_version(manage: TestClient) -> None:
    loaded = manage.post(
        "/management/models", json={"reference": "housing@challenger"}, headers=AUTH
    )
    assert loaded.status_code == 200, loaded.text
    assert loaded.json()["version"] == 2
    listed = manage.get("/management/models", headers=AUTH).json()["models"]
    assert {(m["name"], m["version"]) for m in listed} >= {("housing", 1), ("housing", 2)}
    pinned = manage.post("/v2/models/housing/versions/2/infer", content=BODY)
    assert pinned.status_code == 200
    np.testing.assert_allclose(
        pinned.json()["outputs"][0]["data"], housing_expected(housing_model(2.0), ROW), rtol=1e-6
    )
    gone = manage.delete("/management/models/housing/versions/2", headers=AUTH)
    assert gone.status_code == 200
    assert manage.post("/v2/models/housing/versions/2/infer", content=BODY).status_code == 404


@pytest.mark.parametrize(
    ("reference", "status", "text"),
    [
        ("http://evil.example/model.pkl", 400, "not a valid model reference"),
        ("/etc/passwd", 400, "not a valid model reference"),
        ("../../models/housing", 400, "not a valid model reference"),
        ("file:housing", 400, "not a whole number"),
        ("housing:99", 404, "has no version 99"),
        ("housing@nope", 404, "has no alias 'nope'"),
        ("nothing", 404, "'nothing' is not registered"),
    ],
)
def test_loading_takes_registry_references_only(
    manage: TestClient, reference: str, status: int, text: str
) -> None:
    response = manage.post("/management/models", json={"reference": reference}, headers=AUTH)
    assert response.status_code == status, response.text
    assert text in response.json()["error"]


@pytest.mark.parametrize(
    "body",
    [b"", b"[]", b'{"reference": 5}', b'{"reference": "housing", "url": "x"}', b"{bad"],
)
def test_management_bodies_are_validated(manage: TestClient, body: bytes) -> None:
    response = manage.post("/management/models", content=body, headers=AUTH)
    assert response.status_code == 400
    assert set(response.json()) == {"error"}


def test_unloading_a_model_that_is_not_loaded_is_not_found(manage: TestClient) -> None:
    response = manage.post("/v2/repository/models/nothing/unload", headers=AUTH)
    assert response.status_code == 404
    assert "model 'nothing' is not served" in response.json()["error"]


def test_a_routed_version_cannot_be_unloaded(manage: TestClient) -> None:
    response = manage.delete("/management/models/housing/versions/1", headers=AUTH)
    assert response.status_code == 409
    assert "routed by endpoint(s) housing" in response.json()["error"]


def test_setting_routing_swaps_the_endpoint_to_the_new_version(manage: TestClient) -> None:
    before = manage.post("/v2/models/housing/infer", content=BODY)
    assert before.headers["x-shipyard-model-version"] == "1"
    routed = manage.put(
        "/management/endpoints/housing",
        json={"policy": "single", "model": "housing:2"},
        headers=AUTH,
    )
    assert routed.status_code == 200, routed.text
    assert routed.json()["variants"][0]["version"] == 2
    after = manage.post("/v2/models/housing/infer", content=BODY)
    assert after.headers["x-shipyard-model-version"] == "2"
    np.testing.assert_allclose(
        after.json()["outputs"][0]["data"], housing_expected(housing_model(2.0), ROW), rtol=1e-6
    )
    table = manage.get("/management/endpoints", headers=AUTH).json()["endpoints"]
    assert table["housing"]["policy"] == "single"
    # the old version is no longer routed, so it can go
    assert manage.delete("/management/models/housing/versions/1", headers=AUTH).status_code == 200
    # a new endpoint over an existing model
    manage.put("/management/endpoints/prices", json={"model": "housing@champion"}, headers=AUTH)
    assert manage.post("/v2/models/prices/infer", content=BODY).status_code == 200
    assert manage.delete("/management/endpoints/prices", headers=AUTH).status_code == 200
    assert manage.post("/v2/models/prices/infer", content=BODY).status_code == 404


def test_unknown_routing_policy_is_refused(manage: TestClient) -> None:
    response = manage.put(
        "/management/endpoints/housing",
        json={"policy": "rainbow", "model": "housing:2"},
        headers=AUTH,
    )
    assert response.status_code == 400
    assert "policy" in response.json()["error"]


def test_hot_swap_and_unload_do_not_drop_in_flight_requests() -> None:
    slow_v1 = Recording(housing_model(1.0), delay_s=1.0)
    app = create_app(
        InMemorySource({"housing": {1: slow_v1, 2: housing_model(2.0)}}),
        spec=ServingSpec(token=TOKEN),
        endpoints={"housing": "housing:1"},
    )

    async def main() -> tuple[list[httpx.Response], httpx.Response, httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                in_flight = [
                    asyncio.ensure_future(client.post("/v2/models/housing/infer", content=BODY))
                    for _ in range(5)
                ]
                await asyncio.sleep(0.05)  # v1 is predicting them now
                swap = await client.put(
                    "/management/endpoints/housing", json={"model": "housing:2"}, headers=AUTH
                )
                unload = asyncio.ensure_future(
                    client.delete("/management/models/housing/versions/1", headers=AUTH)
                )
                started = time.perf_counter()
                new = await client.post("/v2/models/housing/infer", content=BODY)
                assert time.perf_counter() - started < 0.5  # v2 answers while v1 drains (1 s)
                assert swap.status_code == 200
                return list(await asyncio.gather(*in_flight)), new, await unload

    old, new, unload = asyncio.run(main())
    assert [r.status_code for r in old] == [200] * 5
    assert {r.headers["x-shipyard-model-version"] for r in old} == {"1"}
    assert new.headers["x-shipyard-model-version"] == "2"
    assert unload.status_code == 200
