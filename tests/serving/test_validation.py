"""Bad input at the door: each case gets a 4xx naming the problem, never a 500 or a traceback.

Every case runs against the real app (real models, lifespan started) and asserts the
status and the error text; the module ends by checking the server still answers.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from typing import Any

import numpy as np
import orjson
import pytest

from shipyard.bundle.signature import TensorSpec
from shipyard.serving import oip, validation
from shipyard.serving.errors import InvalidInput

from .servers import TestClient

HOUSING = "/v2/models/housing/infer"
CHURN = "/v2/models/churn/infer"
JSON = {"content-type": "application/json"}


def tensor(name: str, data: Any, datatype: str = "FP32", shape: list[int] | None = None) -> dict:
    n = len(data) if isinstance(data, list) else 1
    return {"name": name, "datatype": datatype, "shape": shape or [n], "data": data}


def housing(rooms: Any = None, area: Any = None, age: Any = None, **extra: Any) -> bytes:
    inputs = [
        rooms or tensor("rooms", [3.0]),
        area or tensor("area", [120.0]),
        age or tensor("age", [20.0]),
    ]
    return orjson.dumps({"inputs": inputs, **extra})


def churn(**override: Any) -> bytes:
    inputs = {
        "tenure": tensor("tenure", [3.0], "FP64"),
        "plan": tensor("plan", ["pro"], "BYTES"),
        "seats": tensor("seats", [10], "INT64"),
        "active": tensor("active", [True], "BOOL"),
    }
    inputs.update(override)
    return orjson.dumps({"inputs": list(inputs.values())})


def binary(header: dict, blobs: list[bytes]) -> tuple[bytes, dict[str, str]]:
    head = orjson.dumps(header)
    return head + b"".join(blobs), {"Inference-Header-Content-Length": str(len(head))}


def f32(*values: float) -> bytes:
    return np.asarray(values, dtype="<f4").tobytes()


def bin_tensor(name: str, datatype: str, shape: list[int], size: int) -> dict:
    params = {"binary_data_size": size}
    return {"name": name, "datatype": datatype, "shape": shape, "parameters": params}


def nested(depth: int) -> bytes:
    return b"[" * depth + b"1" + b"]" * depth


_GOOD_BIN_HEADER = {"inputs": [bin_tensor(n, "FP32", [1], 4) for n in ("rooms", "area", "age")]}
_ROWS_1001 = [1.0] * 1001
_BIG = 10**30
_BOMB = gzip.compress(b" " * (2 * 1024 * 1024))

# (id, path, body, extra headers, status, text the error must contain)
OIP_CASES: list[tuple[str, str, bytes, dict[str, str], int, str]] = [
    ("missing-feature", HOUSING, orjson.dumps({"inputs": [tensor("rooms", [3.0]), tensor("area", [1.0])]}), {}, 400, "input 'age': is missing"),
    ("extra-unknown-input", HOUSING, orjson.dumps({"inputs": [tensor("rooms", [3.0]), tensor("area", [1.0]), tensor("age", [1.0]), tensor("colour", [1.0])]}), {}, 400, "input 'colour': is not an input"),
    ("bad-datatype", HOUSING, housing(rooms=tensor("rooms", [3.0], "STRING")), {}, 400, "input 'rooms'"),
    ("strings-for-fp32", HOUSING, housing(rooms=tensor("rooms", ["three"])), {}, 400, "input 'rooms'"),
    ("bools-for-fp32", HOUSING, housing(rooms=tensor("rooms", [True])), {}, 400, "input 'rooms'"),
    ("nan-literal", HOUSING, housing().replace(b"3.0", b"NaN"), {}, 400, "not valid JSON"),
    ("infinity-literal", HOUSING, housing().replace(b"3.0", b"Infinity"), {}, 400, "not valid JSON"),
    ("overflowing-float", HOUSING, housing().replace(b"3.0", b"1e400"), {}, 400, "not valid JSON"),
    ("null-not-nullable", HOUSING, housing(rooms=tensor("rooms", [None])), {}, 400, "input 'rooms': null/NaN"),
    ("above-maximum", HOUSING, housing(rooms=tensor("rooms", [51.0])), {}, 400, "input 'rooms': 51.0 is above the maximum"),
    ("below-minimum", HOUSING, housing(rooms=tensor("rooms", [-1.0])), {}, 400, "input 'rooms': -1.0 is below the minimum"),
    ("fp32-overflow-is-infinity", HOUSING, housing(area=tensor("area", [1e39])), {}, 400, "input 'area': Infinity"),
    ("shape-vs-data", HOUSING, housing(rooms=tensor("rooms", [3.0], shape=[2])), {}, 400, "input 'rooms': shape [2] needs 2 values"),
    ("negative-shape", HOUSING, housing(rooms=tensor("rooms", [3.0], shape=[-1])), {}, 400, "input 'rooms': shape must be"),
    ("shape-not-list", HOUSING, housing(rooms={**tensor("rooms", [3.0]), "shape": "1"}), {}, 400, "input 'rooms': shape must be"),
    ("too-many-dims", HOUSING, housing(rooms=tensor("rooms", [3.0], shape=[1] * 9)), {}, 400, "input 'rooms': shape must be"),
    ("wrong-rank", HOUSING, housing(rooms=tensor("rooms", [3.0, 4.0], shape=[1, 2])), {}, 400, "input 'rooms': shape [1, 2] does not match"),
    ("ragged-data", HOUSING, housing(rooms=tensor("rooms", [[1.0, 2.0], [3.0]], shape=[3])), {}, 400, "input 'rooms': 'data' is ragged"),
    ("row-count-mismatch", HOUSING, housing(area=tensor("area", [1.0, 2.0])), {}, 400, "input 'area': has 2 rows"),
    ("empty-batch", HOUSING, housing(*(tensor(n, []) for n in ("rooms", "area", "age"))), {}, 400, "the batch is empty"),
    ("oversized-batch", HOUSING, housing(*(tensor(n, _ROWS_1001) for n in ("rooms", "area", "age"))), {}, 413, "batch (1001 rows) exceeds the limit of 1000"),
    ("body-over-limit", HOUSING, housing(id="x" * 70_000), {}, 413, "request body"),
    ("content-length-over-limit", HOUSING, housing(), {"content-length": "999999999999"}, 413, "request body"),
    ("content-length-not-number", HOUSING, housing(), {"content-length": "12abc"}, 400, "Content-Length"),
    ("malformed-json", HOUSING, b'{"inputs": [', {}, 400, "not valid JSON"),
    ("trailing-comma", HOUSING, b'{"inputs": [],}', {}, 400, "not valid JSON"),
    ("empty-body", HOUSING, b"", {}, 400, "the body is empty"),
    ("json-array-not-object", HOUSING, b"[]", {}, 400, "must be a JSON object"),
    ("inputs-not-list", HOUSING, b'{"inputs": {"rooms": 1}}', {}, 400, "'inputs' must be a non-empty list"),
    ("inputs-empty", HOUSING, b'{"inputs": []}', {}, 400, "'inputs' must be a non-empty list"),
    ("input-without-name", HOUSING, b'{"inputs": [{"datatype": "FP32", "shape": [1], "data": [1]}]}', {}, 400, "inputs[0] must be an object"),
    ("input-without-data", HOUSING, housing(rooms={"name": "rooms", "datatype": "FP32", "shape": [1]}), {}, 400, "input 'rooms': has neither 'data'"),
    ("duplicate-input", HOUSING, orjson.dumps({"inputs": [tensor("rooms", [1.0])] * 2}), {}, 400, "input 'rooms': is given twice"),
    ("id-not-string", HOUSING, housing(id=5), {}, 400, "'id' must be a string"),
    ("nested-100-deep", HOUSING, housing().replace(b"[3.0]", nested(100)), {}, 400, "levels deep; at most 32"),
    ("nested-5000-deep", HOUSING, housing().replace(b"[3.0]", nested(5000)), {}, 400, "levels deep; at most 32"),
    ("unclosed-nesting", HOUSING, b"[" * 50_000, {}, 400, "levels deep"),
    ("invalid-utf8", HOUSING, housing(id="é").replace("é".encode(), b"\xff"), {}, 400, "not valid JSON"),
    ("unknown-output", HOUSING, housing(outputs=[{"name": "nope"}]), {}, 400, "input 'nope': is not an output"),
    ("outputs-not-list", HOUSING, housing(outputs={"name": "prediction"}), {}, 400, "'outputs' must be a list"),
    ("shared-memory", HOUSING, housing(rooms={**tensor("rooms", [1.0]), "parameters": {"shared_memory_region": "r"}}), {}, 400, "shared memory is not supported"),
    ("huge-int-as-float", CHURN, churn().replace(b"[10]", str([_BIG]).encode()), {}, 400, "input 'seats': 'data' does not hold INT64"),
    ("uint64-in-int64", CHURN, churn(seats=tensor("seats", [2**63], "INT64")), {}, 400, "input 'seats': value 9223372036854775808 does not fit"),
    ("4300-digit-integer", CHURN, churn().replace(b"[10]", b"[" + b"9" * 4400 + b"]"), {}, 400, ""),
    ("float-for-int", CHURN, churn(seats=tensor("seats", [1.5], "INT64")), {}, 400, "input 'seats'"),
    ("int-below-minimum", CHURN, churn(seats=tensor("seats", [0], "INT64")), {}, 400, "input 'seats': 0 is below the minimum"),
    ("unknown-category", CHURN, churn(plan=tensor("plan", ["platinum"], "BYTES")), {}, 400, "input 'plan': 'platinum' is not a known category"),
    ("number-for-bytes", CHURN, churn(plan=tensor("plan", [1], "BYTES")), {}, 400, "input 'plan'"),
    ("int-for-bool", CHURN, churn(active=tensor("active", [1], "BOOL")), {}, 400, "input 'active'"),
    ("bool-declared-fp64", CHURN, churn(active=tensor("active", [1.0], "FP64")), {}, 400, "input 'active': expected booleans"),
    ("header-length-not-number", HOUSING, binary(_GOOD_BIN_HEADER, [f32(1), f32(1), f32(1)])[0], {"Inference-Header-Content-Length": "abc"}, 400, "Inference-Header-Content-Length"),
    ("header-length-past-body", HOUSING, housing(), {"Inference-Header-Content-Length": "99999"}, 400, "Inference-Header-Content-Length"),
    ("binary-size-wrong", HOUSING, *binary({"inputs": [bin_tensor("rooms", "FP32", [1], 8), bin_tensor("area", "FP32", [1], 4), bin_tensor("age", "FP32", [1], 4)]}, [f32(1, 2), f32(1), f32(1)]), 400, "input 'rooms': shape [1] of FP32 needs 4 bytes"),
    ("binary-past-end", HOUSING, *binary(_GOOD_BIN_HEADER, [f32(1), f32(1)]), 400, "input 'age': binary_data_size 4 runs past"),
    ("binary-trailing-bytes", HOUSING, *binary(_GOOD_BIN_HEADER, [f32(1), f32(1), f32(1), b"xx"]), 400, "binary_data_size add up to 12"),
    ("binary-size-negative", HOUSING, *binary({"inputs": [bin_tensor("rooms", "FP32", [1], -4)]}, []), 400, "binary_data_size -4"),
    ("binary-bytes-truncated", CHURN, *binary({"inputs": [bin_tensor("plan", "BYTES", [1], 6)]}, [struct.pack("<I", 10) + b"ab"]), 400, "input 'plan': a BYTES element runs past"),
    ("binary-bytes-count", CHURN, *binary({"inputs": [bin_tensor("plan", "BYTES", [2], 7)]}, [struct.pack("<I", 3) + b"pro"]), 400, "input 'plan': expected 2 BYTES elements, found 1"),
    ("binary-bool-not-0-1", CHURN, *binary({"inputs": [bin_tensor("active", "BOOL", [1], 1)]}, [b"\x02"]), 400, "input 'active': BOOL bytes must be 0 or 1"),
    ("binary-bytes-not-utf8", CHURN, *binary({"inputs": [bin_tensor("tenure", "FP64", [1], 8), bin_tensor("plan", "BYTES", [1], 5), bin_tensor("seats", "INT64", [1], 8), bin_tensor("active", "BOOL", [1], 1)]}, [np.float64(1).tobytes(), struct.pack("<I", 1) + b"\xff", np.int64(5).tobytes(), b"\x01"]), 400, "input 'plan': a BYTES value is not valid UTF-8"),
    ("gzip-corrupt", HOUSING, b"\x1f\x8bnot really gzip", {"content-encoding": "gzip"}, 400, "not valid gzip"),
    ("deflate-corrupt", HOUSING, b"definitely not deflate", {"content-encoding": "deflate"}, 400, "not valid deflate"),
    ("gzip-bomb", HOUSING, _BOMB, {"content-encoding": "gzip"}, 413, "decompressed request body"),
    ("gzip-truncated", HOUSING, gzip.compress(housing())[:-12], {"content-encoding": "gzip"}, 400, "not valid gzip"),
    ("unknown-encoding", HOUSING, housing(), {"content-encoding": "br"}, 415, "Content-Encoding 'br'"),
    ("unknown-model", "/v2/models/nope/infer", housing(), {}, 404, "model 'nope' is not served"),
    ("unknown-version", "/v2/models/housing/versions/9/infer", housing(), {}, 404, "version '9'"),
    ("version-not-number", "/v2/models/housing/versions/abc/infer", housing(), {}, 404, "version 'abc'"),
]  # fmt: skip

MLFLOW_CASES: list[tuple[str, str, bytes, dict[str, str], int, str]] = [
    ("text-plain", "/invocations", b"rooms\n1", {"content-type": "text/plain"}, 415, "Content-Type 'text/plain'"),
    ("pickle", "/invocations", b"\x80\x04K\x01.", {"content-type": "application/python-pickle"}, 415, "is not supported"),
    ("x-pickle", "/invocations", b"\x80\x04K\x01.", {"content-type": "application/x-pickle"}, 415, "is not supported"),
    ("octet-stream", "/invocations", b"\x00\x01", {"content-type": "application/octet-stream"}, 415, "is not supported"),
    ("latin-1-json", "/invocations", b"{}", {"content-type": "application/json; charset=latin-1"}, 415, "is not supported"),
    ("no-content-type", "/invocations", b"{}", {"content-type": ""}, 415, "is not supported"),
    ("two-formats", "/invocations", orjson.dumps({"instances": [[1, 2, 3]], "inputs": {"rooms": [1]}}), JSON, 400, "2 format keys"),
    ("no-format", "/invocations", b"{}", JSON, 400, "0 format keys"),
    ("unknown-key", "/invocations", orjson.dumps({"instances": [[1, 2, 3]], "foo": 1}), JSON, 400, "unknown keys ['foo']"),
    ("split-columns-not-strings", "/invocations", orjson.dumps({"dataframe_split": {"columns": [1, 2], "data": [[1, 2]]}}), JSON, 400, "columns must be distinct strings"),
    ("split-row-width", "/invocations", orjson.dumps({"dataframe_split": {"columns": ["rooms", "area", "age"], "data": [[1, 2]]}}), JSON, 400, "dataframe_split.data[0] is not a list of 3"),
    ("records-keys-differ", "/invocations", orjson.dumps({"dataframe_records": [{"rooms": 1, "area": 2, "age": 3}, {"rooms": 1}]}), JSON, 400, "dataframe_records[1] has keys"),
    ("records-missing-feature", "/invocations", orjson.dumps({"dataframe_records": [{"rooms": 1, "area": 2}]}), JSON, 400, "input 'age': is missing"),
    ("records-unknown-feature", "/invocations", orjson.dumps({"dataframe_records": [{"rooms": 1, "area": 2, "age": 3, "zip": 1}]}), JSON, 400, "input 'zip': is not an input"),
    ("instances-width", "/invocations", orjson.dumps({"instances": [[1, 2]]}), JSON, 400, "instances[0] is not a list of 3 values"),
    ("inputs-string-in-number", "/invocations", orjson.dumps({"inputs": {"rooms": ["a"], "area": [1], "age": [1]}}), JSON, 400, "input 'rooms': expected numbers"),
    ("inputs-column-not-list", "/invocations", orjson.dumps({"inputs": {"rooms": 1, "area": [1], "age": [1]}}), JSON, 400, "input 'rooms': must be a list"),
    ("mlflow-nan", "/invocations", b'{"inputs": {"rooms": [NaN], "area": [1], "age": [1]}}', JSON, 400, "not valid JSON"),
    ("mlflow-deep", "/invocations", b'{"instances": ' + nested(64) + b"}", JSON, 400, "levels deep"),
    ("mlflow-empty-records", "/invocations", b'{"dataframe_records": []}', JSON, 400, "the batch is empty"),
    ("mlflow-too-large", "/invocations", orjson.dumps({"instances": [[1.0, 2.0, 3.0]] * 10_000}), JSON, 413, "request body"),
    ("csv-bad-number", "/invocations", b"rooms,area,age\nthree,1,1\n", {"content-type": "text/csv"}, 400, "input 'rooms': a value is not a number"),
    ("csv-ragged", "/invocations", b"rooms,area,age\n1,1\n", {"content-type": "text/csv"}, 400, "CSV line 2 has 2 fields"),
    ("csv-unknown-column", "/invocations", b"rooms,area,age,zip\n1,1,1,x\n", {"content-type": "text/csv"}, 400, "input 'zip': is not an input"),
    ("csv-infinity", "/invocations", b"rooms,area,age\n1,inf,1\n", {"content-type": "text/csv"}, 400, "input 'area': Infinity"),
    ("csv-not-utf8", "/invocations", b"rooms,area,age\n\xff,1,1\n", {"content-type": "text/csv"}, 400, "not valid UTF-8"),
    ("csv-int-too-long", "/endpoints/churn/invocations", b"tenure,plan,seats,active\n1,pro," + b"9" * 50 + b",true\n", {"content-type": "text/csv"}, 400, "input 'seats': an integer is longer"),
    ("csv-bool", "/endpoints/churn/invocations", b"tenure,plan,seats,active\n1,pro,3,yes\n", {"content-type": "text/csv"}, 400, "input 'active': 'yes' is not a boolean"),
    ("records-null-category", "/endpoints/churn/invocations", orjson.dumps({"dataframe_records": [{"tenure": 1, "plan": None, "seats": 3, "active": True}]}), JSON, 400, "input 'plan': null is not allowed"),
    ("records-string-bool", "/endpoints/churn/invocations", orjson.dumps({"dataframe_records": [{"tenure": 1, "plan": "pro", "seats": 3, "active": "yes"}]}), JSON, 400, "input 'active': expected booleans"),
    ("records-huge-int", "/endpoints/churn/invocations", orjson.dumps({"dataframe_records": [{"tenure": 1, "plan": "pro", "seats": -1, "active": True}, {"tenure": 1, "plan": "pro", "seats": 2**64 - 1, "active": True}]}), JSON, 400, "input 'seats': expected integers"),
    ("unknown-endpoint", "/endpoints/nope/invocations", orjson.dumps({"instances": [[1, 2, 3]]}), JSON, 404, "model 'nope' is not served"),
]  # fmt: skip

_LEAKS = ("Traceback", 'File "', "/work/", "site-packages", ".py", "shipyard/")


def _assert_clean(text: str) -> None:
    for leak in _LEAKS:
        assert leak not in text, f"error body leaks {leak!r}: {text[:300]}"


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "text"),
    [pytest.param(*case[1:], id=case[0]) for case in OIP_CASES],
)
def test_bad_oip_request_gets_4xx_error_naming_the_problem(
    client: TestClient, path: str, body: bytes, headers: dict, status: int, text: str
) -> None:
    response = client.post(path, content=body, headers=headers)
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) == {"error"}
    assert text in payload["error"]
    _assert_clean(response.text)


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "text"),
    [pytest.param(*case[1:], id=case[0]) for case in MLFLOW_CASES],
)
def test_bad_mlflow_request_gets_4xx_error_naming_the_problem(
    client: TestClient, path: str, body: bytes, headers: dict, status: int, text: str
) -> None:
    response = client.post(path, content=body, headers=headers)
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) == {"error_code", "message"}
    assert payload["error_code"] == ("RESOURCE_DOES_NOT_EXIST" if status == 404 else "BAD_REQUEST")
    assert text in payload["message"]
    _assert_clean(response.text)


def test_chunked_body_over_limit_is_refused_while_streaming(client: TestClient) -> None:
    sent: list[int] = []

    def chunks():  # no Content-Length: the server must count as it reads
        for _ in range(1000):
            sent.append(1)
            yield b" " * 1024

    response = client.post(HOUSING, content=chunks())
    assert response.status_code == 413
    assert "request body" in response.json()["error"]


def test_brackets_inside_strings_do_not_count_as_nesting(client: TestClient) -> None:
    body = housing(id='[{"\\"' * 200)
    response = client.post(HOUSING, content=body)
    assert response.status_code == 200, response.text


def test_gzip_and_deflate_bodies_are_read(client: TestClient) -> None:
    for encoding, data in (
        ("gzip", gzip.compress(housing())),
        ("deflate", zlib.compress(housing())),
    ):
        response = client.post(HOUSING, content=data, headers={"content-encoding": encoding})
        assert response.status_code == 200, (encoding, response.text)


def test_failing_model_answers_500_without_internals_and_server_keeps_serving(
    client: TestClient,
) -> None:
    # 'fragile' allows null, which scikit-learn then refuses: a model failure, not bad input
    response = client.post(
        "/v2/models/fragile/infer",
        content=orjson.dumps({"inputs": [tensor("x", [1.0, None], "FP64")]}),
    )
    assert response.status_code == 500
    assert response.json() == {
        "error": "model fragile:1 failed to predict (ValueError). the server log has the "
        "traceback; check the input against the signature"
    }
    ok = client.post(
        "/v2/models/fragile/infer", content=orjson.dumps({"inputs": [tensor("x", [1.0], "FP64")]})
    )
    assert ok.status_code == 200
    assert ok.json()["outputs"][0]["data"] == pytest.approx([3.0])


def test_server_still_serves_after_the_bad_input_suite(client: TestClient) -> None:
    response = client.post(HOUSING, content=housing())
    assert response.status_code == 200
    assert client.get("/v2/health/ready").json() == {"ready": True}


# --- the small path: one-row columns checked on Python values, same answers ------------


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [pytest.param(*case[1:4], id=case[0]) for case in OIP_CASES + MLFLOW_CASES],
)
def test_small_paths_leave_every_error_byte_identical(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, path: str, body: bytes, headers: dict
) -> None:
    fast = client.post(path, content=body, headers=headers)
    monkeypatch.setattr(validation, "SMALL", 0)
    monkeypatch.setattr(oip, "_SMALL", 0)
    general = client.post(path, content=body, headers=headers)
    assert (fast.status_code, fast.content) == (general.status_code, general.content)


SPECS = [
    TensorSpec("f64", "FP64", minimum=0.0, maximum=100.0),
    TensorSpec("f32", "FP32", minimum=0.1, maximum=50.0),
    TensorSpec("f16", "FP16"),
    TensorSpec("f32n", "FP32", nullable=True),
    TensorSpec("i64", "INT64", minimum=1, maximum=5),
    TensorSpec("i32", "INT32"),
    TensorSpec("u8", "UINT8", maximum=200),
    TensorSpec("fixed", "FP64", shape=(2,)),
    TensorSpec("matrix", "FP64", shape=(-1, 2)),
    TensorSpec("flag", "BOOL"),
]
VALUES = [
    [1.5],
    [0.0, 100.0, 50.5],
    [100.00000001],
    [-1e-300],
    [0.1],
    [0.09999999],
    [50.0, 50.000001],
    [1e39],
    [3.4028234663852886e38],
    [70000.0],
    [65504.0],
    [np.nan],
    [np.inf],
    [3],
    [1, 5, 0],
    [6],
    [2**31],
    [-(2**31)],
    [255],
    [256],
    [-1],
    [2**62 + 1],
    [True, False],
    [1.0, 2.0],
    [1.0, 2.0, 3.0],
]
DTYPES = ["float64", "float32", "float16", "int64", "int32", "uint64", "uint8", "bool"]


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        out = fn(*args)
    except InvalidInput as exc:
        return ("error", str(exc))
    return ("array", out.dtype.str, out.shape, out.tolist())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's own casts of the test values
@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_small_path_accepts_only_what_the_general_path_accepts_and_converts_alike(
    spec: TensorSpec,
) -> None:
    decided = 0
    for values in VALUES:
        for dtype in DTYPES:
            try:
                array = np.array(values, dtype=dtype)
            except (OverflowError, ValueError):
                continue
            general = _outcome(validation._coerce_any, array.copy(), spec)
            small = validation._coerce_small(array.copy(), spec)
            if small is None:
                continue
            decided += 1
            assert general == ("array", small.dtype.str, small.shape, small.tolist()), (
                values,
                dtype,
            )
            assert _outcome(validation.coerce, array, spec) == general
    if spec.name not in ("matrix", "flag"):
        assert decided > 0  # the small path is really taken for this kind of column
