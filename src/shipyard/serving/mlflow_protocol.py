"""MLflow scoring-server bodies: ``/invocations`` JSON (four layouts) and CSV, to columns.

Source of the contract: ``mlflow/pyfunc/scoring_server``. JSON must carry exactly one
of ``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs`` (plus an
optional ``params``); CSV has a header row. Everything is decoded straight into one
numpy array per feature, no DataFrame.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from shipyard.bundle.signature import Signature
from shipyard.serving.errors import InvalidInput, UnsupportedMediaType
from shipyard.serving.limits import parse_json

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
CONTENT_TYPES = ("application/json", "text/csv")


def decode(body: bytes, content_type: str | None, signature: Signature) -> dict[str, np.ndarray]:
    """Decode an ``/invocations`` body into ``{feature: array}``.

    Raises:
        UnsupportedMediaType: not JSON (UTF-8) or CSV.
        InvalidInput: naming the key, row or feature that is wrong.
    """
    media, _, params = (content_type or "").partition(";")
    media = media.strip().lower()
    charset = params.strip().lower().removeprefix("charset=").strip('"') if params else "utf-8"
    if media not in CONTENT_TYPES or charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(content_type or "(none)", CONTENT_TYPES)
    if media == "text/csv":
        return _from_csv(body, signature)
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise InvalidInput("the body must be a JSON object", hint=_FORMAT_HINT)
    keys = [k for k in payload if k in FORMATS]
    unknown = [str(k)[:40] for k in payload if k not in FORMATS and k != "params"]
    if len(keys) != 1 or unknown:
        problem = f"unknown keys {unknown}" if unknown else f"{len(keys)} format keys {keys}"
        raise InvalidInput(f"the body has {problem}", hint=_FORMAT_HINT)
    key = keys[0]
    data = payload[key]
    if key == "dataframe_split":
        return _from_split(data)
    if key == "dataframe_records":
        return _from_records(data, key)
    if key == "inputs" and isinstance(data, dict):
        return {str(name): _column(str(name), values) for name, values in data.items()}
    return _from_instances(data, key, signature)


_FORMAT_HINT = (
    "send exactly one of dataframe_split, dataframe_records, instances or inputs "
    "(and optionally params)"
)


def encode(outputs: Mapping[str, np.ndarray]) -> bytes:
    """``{"predictions": ...}``: a list for one output, ``{name: list}`` for several."""
    values = {name: _jsonable(array) for name, array in outputs.items()}
    predictions = next(iter(values.values())) if len(values) == 1 else values
    return orjson.dumps({"predictions": predictions}, option=orjson.OPT_SERIALIZE_NUMPY)


def _jsonable(array: np.ndarray) -> Any:
    if array.dtype.kind in "OUS":
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in array.tolist()]
    if array.dtype == np.float16:
        array = array.astype(np.float32)
    return np.ascontiguousarray(array)


def _column(name: str, values: Any) -> np.ndarray:
    if not isinstance(values, list):
        raise InvalidInput("must be a list of values", field=name[:64])
    try:
        return np.asarray(values)
    except (ValueError, TypeError, OverflowError):
        raise InvalidInput("holds nested lists of different lengths", field=name[:64]) from None


def _from_split(data: Any) -> dict[str, np.ndarray]:
    if not isinstance(data, dict) or not isinstance(data.get("columns"), list):
        raise InvalidInput("dataframe_split must be an object with 'columns' and 'data'")
    names = data["columns"]
    rows = data.get("data")
    if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        raise InvalidInput("dataframe_split.columns must be distinct strings")
    if not isinstance(rows, list):
        raise InvalidInput("dataframe_split.data must be a list of rows")
    width = len(names)
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            raise InvalidInput(f"dataframe_split.data[{i}] is not a list of {width} values")
    if not rows:
        return {name: np.asarray([]) for name in names}
    return {
        name: _column(name, list(col))
        for name, col in zip(names, zip(*rows, strict=True), strict=True)
    }


def _from_records(data: Any, key: str) -> dict[str, np.ndarray]:
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise InvalidInput(f"{key} must be a list of objects, one per row")
    if not data:
        raise InvalidInput("the batch is empty", hint="send at least one row")
    names = list(data[0])
    for i, row in enumerate(data):
        if len(row) != len(names) or any(n not in row for n in names):
            raise InvalidInput(
                f"{key}[{i}] has keys {sorted(row)[:10]}, row 0 has {sorted(names)[:10]}"
            )
    return {name: _column(name, [row[name] for row in data]) for name in names}


def _from_instances(data: Any, key: str, signature: Signature) -> dict[str, np.ndarray]:
    if not isinstance(data, list) or not data:
        raise InvalidInput(f"{key} must be a non-empty list of rows")
    if all(isinstance(r, dict) for r in data):
        return _from_records(data, key)
    names = signature.input_names
    if len(names) == 1 and not isinstance(data[0], list):
        return {names[0]: _column(names[0], data)}
    width = len(names)
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != width:
            raise InvalidInput(f"{key}[{i}] is not a list of {width} values ({', '.join(names)})")
    return {
        name: _column(name, list(col))
        for name, col in zip(names, zip(*data, strict=True), strict=True)
    }


def _from_csv(body: bytes, signature: Signature) -> dict[str, np.ndarray]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the CSV is not valid UTF-8") from None
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise InvalidInput(f"the CSV cannot be read: {exc}") from None
    if not rows:
        raise InvalidInput("the CSV is empty", hint="send a header row and at least one row")
    header, body_rows = rows[0], rows[1:]
    if len(set(header)) != len(header):
        raise InvalidInput("the CSV header repeats a column name")
    for i, row in enumerate(body_rows, start=2):
        if len(row) != len(header):
            raise InvalidInput(f"CSV line {i} has {len(row)} fields, the header {len(header)}")
    specs = {s.name: s for s in signature.inputs}
    columns: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        values = [row[j] for row in body_rows]
        spec = specs.get(name)
        columns[name] = _csv_column(values, spec.datatype if spec else "BYTES", name)
    return columns


def _csv_column(values: list[str], datatype: str, name: str) -> np.ndarray:
    if datatype == "BYTES":
        return np.array([v if v != "" else None for v in values], dtype=object)
    if datatype == "BOOL":
        table = {"true": True, "false": False, "1": True, "0": False}
        try:
            return np.array([table[v.strip().lower()] for v in values], dtype=bool)
        except KeyError as exc:
            raise InvalidInput(f"{str(exc)[:40]} is not a boolean", field=name) from None
    if datatype.startswith(("INT", "UINT")):
        if any(len(v) > 40 for v in values):
            raise InvalidInput("an integer is longer than 40 characters", field=name)
        try:
            parsed = [int(v) for v in values]
        except ValueError:
            raise InvalidInput("a value is not an integer", field=name) from None
        try:
            return np.array(parsed, dtype=np.int64)
        except (OverflowError, TypeError):
            return np.array(parsed, dtype=object)  # validation names the oversized value
    try:
        return np.array([float(v) if v.strip() != "" else np.nan for v in values])
    except ValueError:
        raise InvalidInput("a value is not a number", field=name) from None
