"""The policies inside the server: routing on headers, parameters and features, keys and
error statuses on events, the management API's specs and their clear refusals."""

from __future__ import annotations

import warnings

import pytest
from rollout_helpers import LinearHousing, oip_body, rows

from shipyard.config import ServingSpec
from shipyard.serving import InMemorySource, PredictionEvent, create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

TOKEN = "t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Hook:
    """Collects prediction events; declares that it records error statuses too."""

    records_status = True

    def __init__(self) -> None:
        self.events: list[PredictionEvent] = []

    def __call__(self, event: PredictionEvent) -> None:
        self.events.append(event)


@pytest.fixture
def hook() -> Hook:
    return Hook()


@pytest.fixture
def client(hook: Hook):
    models = {1: LinearHousing(), 2: LinearHousing(shift=1000.0), 3: LinearHousing(fail=True)}
    app = create_app(
        InMemorySource({"housing": models}),
        spec=ServingSpec(token=TOKEN),
        endpoints={"housing": "housing:1"},
        on_prediction=hook,
    )
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _put(client, spec: dict, endpoint: str = "housing"):
    return client.put(f"/management/endpoints/{endpoint}", json=spec, headers=AUTH)


def _infer(client, row: dict, *, params: dict | None = None, headers: dict | None = None):
    return client.post(
        "/v2/models/housing/infer", json=oip_body(row, params), headers=headers or {}
    )


def test_a_segment_on_a_feature_routes_by_the_request_inputs(client) -> None:
    spec = {
        "strategy": "canary", "stable": "housing:1", "canary": "housing:2", "weight": 100,
        "segment": {"field": "feature:region", "values": ["VN"]},
    }  # fmt: skip
    assert _put(client, spec).status_code == 200
    for row in rows(40):
        r = _infer(client, row)
        assert r.status_code == 200
        expected = "canary" if row["region"] == "VN" else "stable"
        assert r.headers["x-shipyard-variant"] == expected
        assert r.headers["x-shipyard-model-version"] == ("2" if expected == "canary" else "1")


def test_a_segment_on_a_parameter_and_a_key_on_a_header(client, hook: Hook) -> None:
    spec = {
        "strategy": "canary", "stable": "housing:1", "canary": "housing:2", "weight": 100,
        "key": "header:x-user-id", "segment": {"field": "parameter:region", "values": ["TH"]},
    }  # fmt: skip
    assert _put(client, spec).status_code == 200
    row = rows(1)[0]
    th = _infer(client, row, params={"region": "TH"}, headers={"x-user-id": "u-7"})
    other = _infer(client, row, params={"region": "SG"}, headers={"x-user-id": "u-8"})
    assert th.headers["x-shipyard-variant"] == "canary"
    assert other.headers["x-shipyard-variant"] == "stable"
    assert [(e.variant, e.key) for e in hook.events[-2:]] == [("canary", "u-7"), ("stable", "u-8")]


def test_ab_by_a_parameter_is_sticky_per_user(client) -> None:
    spec = {
        "strategy": "ab", "key": "parameter:user_id",
        "variants": [{"name": "a", "model": "housing:1", "weight": 50},
                     {"name": "b", "model": "housing:2", "weight": 50}],
    }  # fmt: skip
    assert _put(client, spec).status_code == 200
    seen: dict[str, set[str]] = {}
    for i, row in enumerate(rows(120)):
        user = f"user-{i % 12}"
        r = _infer(client, row, params={"user_id": user})
        seen.setdefault(user, set()).add(r.headers["x-shipyard-variant"])
    assert all(len(v) == 1 for v in seen.values())
    assert {next(iter(v)) for v in seen.values()} == {"a", "b"}


def test_a_failing_canary_answers_errors_that_reach_the_event_hook(client, hook: Hook) -> None:
    spec = {"strategy": "canary", "stable": "housing:1", "canary": "housing:3", "weight": 100}
    assert _put(client, spec).status_code == 200
    r = _infer(client, rows(1)[0])
    assert r.status_code == 500 and r.headers["x-request-id"]
    last = hook.events[-1]
    assert (last.variant, last.status, last.model_version) == ("canary", 500, 3)
    assert last.outputs == {}


def test_a_failing_shadow_never_changes_the_answer(client, hook: Hook) -> None:
    spec = {"strategy": "shadow", "primary": "housing:1", "shadows": [{"model": "housing:3"}]}
    assert _put(client, spec).status_code == 200
    r = _infer(client, rows(1)[0])
    assert r.status_code == 200 and r.headers["x-shipyard-variant"] == "primary"
    served, mirrored = hook.events[-2:]
    assert (served.shadow, served.status) == (False, 200)
    assert (mirrored.shadow, mirrored.status, mirrored.variant) == (True, 500, "shadow")


@pytest.mark.parametrize(
    ("spec", "status", "needle"),
    [
        ({"strategy": "ab", "key": "header:x-u", "variants": [
            {"name": "a", "model": "housing:1", "weight": 50},
            {"name": "b", "model": "housing:2", "weight": 40}]}, 400, "sum to 90"),
        ({"strategy": "canary", "stable": "housing:1", "canary": "housing:8"}, 404, "no version 8"),
        ({"strategy": "canary", "stable": "housing:1", "canary": "housing:2",
          "key": "feature:user"}, 400, "no input 'user'"),
        ({"strategy": "blue_green", "blue": "housing:1"}, 400, "green: required"),
        ({"policy": "rainbow", "model": "housing:1"}, 400, "policy: 'rainbow' is unknown"),
    ],
)  # fmt: skip
def test_bad_specs_are_clear_4xx_and_the_endpoint_keeps_its_routing(
    client, spec, status, needle
) -> None:
    response = _put(client, spec)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error"} and needle in response.json()["error"]
    table = client.get("/management/endpoints", headers=AUTH).json()["endpoints"]
    assert table["housing"]["policy"] == "single"
    assert _infer(client, rows(1)[0]).headers["x-shipyard-model-version"] == "1"


def test_outcomes_need_an_event_store(client) -> None:
    r = client.post(
        "/endpoints/housing/outcomes", json={"request_id": "x", "kind": "label", "value": 1}
    )
    assert r.status_code == 403 and "outcomes disabled" in r.json()["error"]
