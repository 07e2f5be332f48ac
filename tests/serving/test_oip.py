"""Open Inference Protocol against a real uvicorn, spoken by the real ``tritonclient.http``."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from shipyard.bundle.signature import DATATYPES
from shipyard.serving import oip
from shipyard.serving.errors import InvalidInput

from .servers import TOKEN
from .serving_models import churn_model, housing_expected, housing_model

ROWS = np.array([[3.0, 120.0, 20.0], [5.0, 250.0, 3.0], [1.0, 40.0, 80.0]], dtype=np.float32)


@pytest.fixture(scope="module")
def triton(live_url: str) -> httpclient.InferenceServerClient:
    return httpclient.InferenceServerClient(live_url)


def housing_inputs(binary: bool) -> list[httpclient.InferInput]:
    inputs = []
    for j, name in enumerate(("rooms", "area", "age")):
        tensor = httpclient.InferInput(name, [len(ROWS)], "FP32")
        tensor.set_data_from_numpy(ROWS[:, j].copy(), binary_data=binary)
        inputs.append(tensor)
    return inputs


def test_server_health_and_metadata(triton: httpclient.InferenceServerClient) -> None:
    assert triton.is_server_live()
    assert triton.is_server_ready()
    meta = triton.get_server_metadata()
    assert meta["name"] == "shipyard"
    assert "binary_tensor_data" in meta["extensions"]


def test_model_metadata_lists_signature_tensors(triton: httpclient.InferenceServerClient) -> None:
    meta = triton.get_model_metadata("housing")
    assert meta["versions"] == ["1"]
    assert meta["inputs"] == [
        {"name": n, "datatype": "FP32", "shape": [-1]} for n in ("rooms", "area", "age")
    ]
    assert meta["outputs"] == [{"name": "prediction", "datatype": "FP32", "shape": [-1]}]
    assert triton.is_model_ready("housing")
    assert triton.is_model_ready("housing", "1")
    assert not triton.is_model_ready("nope")


def test_binary_tensors_by_default(triton: httpclient.InferenceServerClient) -> None:
    result = triton.infer("housing", housing_inputs(binary=True), request_id="req-7")
    response = result.get_response()
    assert response["id"] == "req-7"
    assert response["model_version"] == "1"
    assert response["outputs"][0]["parameters"]["binary_data_size"] == 4 * len(ROWS)
    np.testing.assert_allclose(
        result.as_numpy("prediction"), housing_expected(housing_model(1.0), ROWS), rtol=1e-6
    )


def test_json_tensors_with_binary_data_false(triton: httpclient.InferenceServerClient) -> None:
    outputs = [httpclient.InferRequestedOutput("prediction", binary_data=False)]
    result = triton.infer("housing", housing_inputs(binary=False), outputs=outputs)
    assert "data" in result.get_response()["outputs"][0]
    np.testing.assert_allclose(
        result.as_numpy("prediction"), housing_expected(housing_model(1.0), ROWS), rtol=1e-6
    )


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_compressed_requests(triton: httpclient.InferenceServerClient, algorithm: str) -> None:
    result = triton.infer(
        "housing", housing_inputs(binary=True), request_compression_algorithm=algorithm
    )
    np.testing.assert_allclose(
        result.as_numpy("prediction"), housing_expected(housing_model(1.0), ROWS), rtol=1e-6
    )


@pytest.mark.parametrize("binary", [True, False])
def test_bytes_bool_and_int_inputs_and_outputs(
    triton: httpclient.InferenceServerClient, binary: bool
) -> None:
    columns = {
        "tenure": (np.array([2.0, 40.0]), "FP64"),
        "plan": (np.array([b"basic", b"enterprise"], dtype=np.object_), "BYTES"),
        "seats": (np.array([3, 120], dtype=np.int64), "INT64"),
        "active": (np.array([True, False]), "BOOL"),
    }
    inputs = []
    for name, (values, datatype) in columns.items():
        tensor = httpclient.InferInput(name, [2], datatype)
        tensor.set_data_from_numpy(values, binary_data=binary)
        inputs.append(tensor)
    outputs = [
        httpclient.InferRequestedOutput(n, binary_data=binary) for n in ("label", "probability")
    ]
    result = triton.infer("churn", inputs, outputs=outputs)
    model = churn_model()
    expected = model.predict(
        {n: v.astype(str) if n == "plan" else v for n, (v, _) in columns.items()}
    )
    labels = [x.decode() if isinstance(x, bytes) else x for x in result.as_numpy("label")]
    assert labels == list(expected["label"])
    probability = result.as_numpy("probability")
    assert probability.shape == (2, 2)
    np.testing.assert_allclose(probability, expected["probability"], rtol=1e-12)


def test_pinned_version_and_variant_headers(live_url: str) -> None:
    body = {
        "inputs": [
            {"name": n, "shape": [1], "datatype": "FP32", "data": [v]}
            for n, v in (("rooms", 3), ("area", 100), ("age", 5))
        ]
    }
    response = httpx.post(f"http://{live_url}/v2/models/housing/versions/1/infer", json=body)
    assert response.status_code == 200
    assert response.headers["x-shipyard-model-version"] == "1"
    assert response.headers["x-shipyard-variant"] == "pinned"
    routed = httpx.post(
        f"http://{live_url}/v2/models/housing/infer", json=body, headers={"x-request-id": "abc"}
    )
    assert routed.headers["x-shipyard-variant"] == "default"
    assert routed.headers["x-request-id"] == "abc"
    assert routed.json()["id"] == "abc"


def test_invalid_input_reaches_the_client_as_its_error(
    triton: httpclient.InferenceServerClient,
) -> None:
    inputs = housing_inputs(binary=True)[:2]
    with pytest.raises(InferenceServerException) as raised:
        triton.infer("housing", inputs)
    assert raised.value.status() == "400"
    assert "input 'age': is missing" in raised.value.message()
    with pytest.raises(InferenceServerException) as missing:
        triton.infer("nope", housing_inputs(binary=True))
    assert missing.value.status() == "404"


def test_repository_load_and_unload_with_token(live_url: str) -> None:
    client = httpclient.InferenceServerClient(live_url)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with pytest.raises(InferenceServerException) as refused:
        client.load_model("housing", config=None)
    assert refused.value.status() == "401"
    client.load_model("housing", headers=auth)  # the bare name is the champion: v1, loaded
    index = client.get_model_repository_index(headers=auth)
    assert {"name": "housing", "version": "1", "state": "READY"} in index
    # a version no endpoint routes to can come and go
    # tritonclient has no per-version load; Triton's body for it, as another client sends it
    loaded = httpx.post(
        f"http://{live_url}/v2/repository/models/housing/load",
        json={"parameters": {"version": 2}},
        headers=auth,
    )
    assert loaded.status_code == 200, loaded.text
    assert client.is_model_ready("housing", "2")
    client.unload_model("housing", headers=auth)
    assert not client.is_model_ready("housing", "2")
    assert client.is_model_ready("housing", "1")  # routed by the endpoint: kept


JSON_DATA = [
    [1.5],
    [1.5, 2.5],
    [3],
    [3, -7],
    [2**63 - 1],
    [-(2**63)],
    [2**63],
    [-(2**63) - 1],
    [2**64 + 5],
    ["US"],
    ["US", "VN"],
    [True],
    [True, False],
    [1, 2.5],
    [True, 1],
    [1, "a"],
    [None],
    [1.0, None],
    [[1.0]],
    [{"a": 1}],
]


@pytest.mark.parametrize("datatype", list(DATATYPES))
def test_small_json_tensors_decode_as_the_general_path_does(
    datatype: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def decoded() -> list[object]:
        out: list[object] = []
        for data in JSON_DATA:
            try:
                array = oip._from_json(data, datatype, [len(data)], len(data), "x")
            except InvalidInput as exc:
                out.append(str(exc))
            else:
                out.append((array.dtype.str, array.shape, array.tolist()))
        return out

    small = decoded()
    monkeypatch.setattr(oip, "_SMALL", 0)
    assert small == decoded()
