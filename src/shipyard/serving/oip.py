"""Open Inference Protocol (KServe V2) REST bodies: decode requests, encode responses.

Handles plain JSON and the binary tensor extension (a JSON header of
``Inference-Header-Content-Length`` bytes followed by raw little-endian tensors; BYTES
elements carry a 4-byte little-endian length prefix), so ``tritonclient.http`` works in
both modes. Request tensors are decoded straight into numpy, no per-request DataFrame.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from shipyard.bundle.signature import DATATYPES, Signature, datatype_of
from shipyard.serving.errors import InvalidInput
from shipyard.serving.limits import parse_json

HEADER_LENGTH = "inference-header-content-length"
MAX_DIMS = 8
_INT32 = struct.Struct("<I")
# JSON tensors of at most this many values are typed by a loop over the Python values
# (numpy's dtype discovery and checks cost more than the values on one-row requests)
_SMALL = 16
# (Python type of every value, datatype) -> the dtype np.asarray gives such a list
# (None: numpy's own choice, '<U' for strings); pairs not listed take the general path
_JSON_DTYPES: dict[tuple[type, str], np.dtype[Any] | None] = {
    **{(float, t): np.dtype(np.float64) for t in ("FP16", "FP32", "FP64")},
    **{(int, t): np.dtype(np.int64) for t in DATATYPES if t not in ("BYTES", "BOOL")},
    (str, "BYTES"): None,
    (bool, "BOOL"): np.dtype(np.bool_),
}


@dataclass(slots=True)  # not frozen: frozen dataclasses cost a setattr call per field
class InferRequest:
    """A decoded inference request: input arrays and what the caller wants back."""

    id: str | None
    inputs: dict[str, np.ndarray]
    outputs: tuple[str, ...] | None  # None: every output
    binary_outputs: Mapping[str, bool]  # per-output binary_data flags the caller set
    binary_by_default: bool  # parameters.binary_data_output
    parameters: Mapping[str, Any]  # the request's parameters, as sent


def decode_request(body: bytes, header_length: str | None) -> InferRequest:
    """Decode an infer body, JSON or binary-extension.

    Raises:
        InvalidInput: naming the input and what is wrong with it.
    """
    view = memoryview(body)
    if header_length is not None:
        if not header_length.isdigit() or int(header_length[:12]) > len(body):
            raise InvalidInput(
                f"Inference-Header-Content-Length {header_length[:20]!r} is not a length "
                f"within the {len(body)}-byte body"
            )
        split = int(header_length)
        header, binary = parse_json(view[:split]), view[split:]
    else:
        header, binary = parse_json(body), view[len(body) :]
    if not isinstance(header, dict):
        raise InvalidInput("the request must be a JSON object with an 'inputs' list")
    request_id = header.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput("'id' must be a string")
    raw_inputs = header.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidInput("'inputs' must be a non-empty list of tensors")
    inputs: dict[str, np.ndarray] = {}
    offset = 0
    for position, tensor in enumerate(raw_inputs):
        name, array, used = _decode_tensor(tensor, position, binary, offset)
        if name in inputs:
            raise InvalidInput("is given twice", field=name)
        inputs[name] = array
        offset += used
    if offset != len(binary):
        raise InvalidInput(
            f"the body has {len(binary)} bytes of binary tensor data but the inputs' "
            f"binary_data_size add up to {offset}"
        )
    outputs, binary_outputs = _requested_outputs(header.get("outputs"))
    params = header.get("parameters")
    by_default = isinstance(params, dict) and params.get("binary_data_output") is True
    parameters = params if isinstance(params, dict) else {}
    return InferRequest(request_id, inputs, outputs, binary_outputs, by_default, parameters)


def _decode_tensor(
    tensor: Any, position: int, binary: memoryview, offset: int
) -> tuple[str, np.ndarray, int]:
    if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
        raise InvalidInput(f"inputs[{position}] must be an object with a string 'name'")
    name: str = tensor["name"][:128]
    datatype = tensor.get("datatype")
    if datatype not in DATATYPES:
        raise InvalidInput(
            f"datatype {str(datatype)[:20]!r} is not an Open Inference Protocol datatype",
            field=name,
            hint=f"use one of: {', '.join(DATATYPES)}",
        )
    shape = tensor.get("shape")
    if type(shape) is list and len(shape) == 1 and type(shape[0]) is int and 0 <= shape[0] < 2**31:
        count = shape[0]  # the usual [N]: the general check below, without its generator
    elif (
        not isinstance(shape, list)
        or len(shape) > MAX_DIMS
        or not all(type(d) is int and 0 <= d < 2**31 for d in shape)
    ):
        raise InvalidInput(
            f"shape must be a list of at most {MAX_DIMS} non-negative integers", field=name
        )
    else:
        count = math.prod(shape)
    params = tensor.get("parameters")
    size = params.get("binary_data_size") if isinstance(params, dict) else None
    if isinstance(params, dict) and "shared_memory_region" in params:
        raise InvalidInput("shared memory is not supported; send the data", field=name)
    if size is not None:
        if type(size) is not int or size < 0 or offset + size > len(binary):
            raise InvalidInput(
                f"binary_data_size {str(size)[:20]} runs past the end of the body", field=name
            )
        raw = binary[offset : offset + size]
        return name, _from_binary(raw, datatype, shape, count, name), size
    if "data" not in tensor:
        raise InvalidInput("has neither 'data' nor parameters.binary_data_size", field=name)
    return name, _from_json(tensor["data"], datatype, shape, count, name), 0


def _from_json(data: Any, datatype: str, shape: list[int], count: int, name: str) -> np.ndarray:
    if type(data) is list and 0 < len(data) == count <= _SMALL and len(shape) == 1:
        small = _small_array(data, datatype)
        if small is not None:
            return small
    if not isinstance(data, list):
        data = [data]
    try:
        array = np.asarray(data)
    except (ValueError, TypeError, OverflowError):
        raise InvalidInput(
            "'data' is ragged: nested lists of different lengths", field=name
        ) from None
    if array.size != count:
        raise InvalidInput(
            f"shape {shape} needs {count} values but 'data' has {array.size}", field=name
        )
    kind = array.dtype.kind
    if datatype == "BYTES":
        ok = kind in "UO"
    elif datatype == "BOOL":
        ok = kind == "b"
    elif datatype.startswith(("INT", "UINT")):
        ok = kind in "iuO"
    else:
        ok = kind in "iufO"
    if not ok:
        raise InvalidInput(f"'data' does not hold {datatype} values", field=name)
    return array.reshape(shape)


def _small_array(data: list[Any], datatype: str) -> np.ndarray | None:
    """``np.asarray(data)`` for a short flat list of one plain type that suits ``datatype``.

    None for anything else (mixed types, nesting, nulls, integers past int64, a type
    that does not suit the datatype): the general path decides those and words their
    errors.
    """
    kind = type(data[0])
    for value in data:
        if type(value) is not kind:
            return None
    dtype = _JSON_DTYPES.get((kind, datatype), False)
    if dtype is False:
        return None
    try:
        return np.array(data, dtype=dtype)
    except OverflowError:  # an integer past int64: numpy would pick uint64 or object
        return None


def _from_binary(
    raw: memoryview, datatype: str, shape: list[int], count: int, name: str
) -> np.ndarray:
    if datatype == "BYTES":
        return np.array(_split_bytes(raw, count, name), dtype=object).reshape(shape)
    dtype = np.dtype(DATATYPES[datatype]).newbyteorder("<")
    if len(raw) != count * dtype.itemsize:
        raise InvalidInput(
            f"shape {shape} of {datatype} needs {count * dtype.itemsize} bytes, "
            f"binary_data_size is {len(raw)}",
            field=name,
        )
    if datatype == "BOOL":
        flags = np.frombuffer(raw, dtype=np.uint8)
        if (flags > 1).any():
            raise InvalidInput("BOOL bytes must be 0 or 1", field=name)
        return flags.astype(bool).reshape(shape)
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def _split_bytes(raw: memoryview, count: int, name: str) -> list[bytes]:
    items: list[bytes] = []
    pos, end = 0, len(raw)
    while pos < end:
        if pos + 4 > end:
            raise InvalidInput("a BYTES element's 4-byte length is cut off", field=name)
        (length,) = _INT32.unpack_from(raw, pos)
        pos += 4
        if pos + length > end:
            raise InvalidInput("a BYTES element runs past its binary_data_size", field=name)
        items.append(bytes(raw[pos : pos + length]))
        pos += length
        if len(items) > count:
            break
    if len(items) != count:
        raise InvalidInput(f"expected {count} BYTES elements, found {len(items)}", field=name)
    return items


def _requested_outputs(raw: Any) -> tuple[tuple[str, ...] | None, dict[str, bool]]:
    if raw is None:
        return None, {}
    if not isinstance(raw, list):
        raise InvalidInput("'outputs' must be a list of {\"name\": ...} objects")
    names: list[str] = []
    binary: dict[str, bool] = {}
    for position, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InvalidInput(f"outputs[{position}] must be an object with a string 'name'")
        names.append(item["name"])
        params = item.get("parameters")
        if isinstance(params, dict) and isinstance(params.get("binary_data"), bool):
            binary[item["name"]] = params["binary_data"]
    return tuple(names), binary


def encode_response(
    request: InferRequest,
    outputs: Mapping[str, np.ndarray],
    signature: Signature,
    *,
    model_name: str,
    model_version: str,
    request_id: str,
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary outputs follow it.

    Raises:
        InvalidInput: an output was requested that the model does not produce.
    """
    wanted = request.outputs if request.outputs is not None else tuple(outputs)
    declared = {t.name: t.datatype for t in signature.outputs}
    tensors: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name in wanted:
        if name not in outputs:
            raise InvalidInput(
                "is not an output of this model",
                field=name,
                hint=f"outputs: {', '.join(outputs)}",
            )
        array = outputs[name]
        datatype = declared.get(name) or datatype_of(array.dtype)
        if datatype != "BYTES":
            array = np.ascontiguousarray(array, dtype=np.dtype(DATATYPES[datatype]))
        tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if request.binary_outputs.get(name, request.binary_by_default):
            blob = (
                _bytes_blob(array)
                if datatype == "BYTES"
                else array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
            )
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        elif datatype == "BYTES":
            tensor["data"] = [_text(v) for v in array.flat]
        else:
            tensor["data"] = array.ravel()
        tensors.append(tensor)
    payload = {
        "model_name": model_name,
        "model_version": model_version,
        "id": request.id if request.id is not None else request_id,
        "outputs": tensors,
    }
    header = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)


def _bytes_blob(array: np.ndarray) -> bytes:
    parts: list[bytes] = []
    for value in array.flat:
        data = value if isinstance(value, bytes) else str(value).encode("utf-8")
        parts.append(_INT32.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def tensor_metadata(signature: Signature) -> dict[str, list[dict[str, Any]]]:
    """``inputs`` and ``outputs`` for model metadata: name, datatype, shape."""
    return {
        "inputs": [
            {"name": t.name, "datatype": t.datatype, "shape": list(t.shape)}
            for t in signature.inputs
        ],
        "outputs": [
            {"name": t.name, "datatype": t.datatype, "shape": list(t.shape)}
            for t in signature.outputs
        ],
    }
