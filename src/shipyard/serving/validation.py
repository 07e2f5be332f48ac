"""Validation at the door: decoded request columns checked against the model's signature.

Both protocols decode their body into ``{name: numpy array}``; this module is where
those arrays become exactly what the model declared (datatype, shape, categories,
range, nullability) or the request is refused with a message naming the feature.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from shipyard.bundle.signature import DATATYPES, Signature, TensorSpec
from shipyard.serving.errors import InvalidInput, PayloadTooLarge

_SHOWN = 5
# Columns of at most this many values take the small path: checks on Python values.
# On one-row requests, numpy's per-call overhead (a reduction costs about a microsecond
# whatever the size) is most of the work; Python compares a few floats faster.
SMALL = 16
_DTYPES = {name: np.dtype(np_name) for name, np_name in DATATYPES.items()}
_INT_BOUNDS = {
    name: (int(np.iinfo(dtype).min), int(np.iinfo(dtype).max))
    for name, dtype in _DTYPES.items()
    if dtype.kind in "iu"
}
_FLOAT_LIMITS = {
    name: float(np.finfo(dtype).max) for name, dtype in _DTYPES.items() if dtype.kind == "f"
}


def validate_columns(
    columns: Mapping[str, np.ndarray], signature: Signature, *, max_rows: int
) -> tuple[dict[str, np.ndarray], int]:
    """Check and convert decoded columns; return them in signature order with the row count.

    Raises:
        InvalidInput: a missing, unknown or malformed feature, naming it.
        PayloadTooLarge: more rows than ``max_rows``.
    """
    specs = signature.inputs
    if len(columns) != len(specs) or any(s.name not in columns for s in specs):
        _raise_name_mismatch(columns, signature)
    out: dict[str, np.ndarray] = {}
    rows = -1
    for spec in specs:
        array = coerce(columns[spec.name], spec)
        if rows < 0:
            rows = array.shape[0]
            if rows == 0:
                raise InvalidInput(
                    "the batch is empty", field=spec.name, hint="send at least one row"
                )
            if rows > max_rows:
                raise PayloadTooLarge("batch", f"{rows} rows", max_rows)
        elif array.shape[0] != rows:
            raise InvalidInput(
                f"has {array.shape[0]} rows but '{specs[0].name}' has {rows}", field=spec.name
            )
        out[spec.name] = array
    return out, rows


def _raise_name_mismatch(columns: Mapping[str, Any], signature: Signature) -> None:
    expected = signature.input_names
    missing = [n for n in expected if n not in columns]
    if missing:
        raise InvalidInput(
            "is missing",
            field=missing[0],
            hint=f"the model takes: {', '.join(expected)}"
            + (f"; {len(missing)} are missing" if len(missing) > 1 else ""),
        )
    unknown = [str(n)[:64] for n in columns if n not in set(expected)]
    raise InvalidInput(
        "is not an input of this model",
        field=unknown[0],
        hint=f"the model takes: {', '.join(expected)}",
    )


def coerce(array: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """One column as the spec's dtype and shape, with its value constraints checked.

    Raises:
        InvalidInput: naming the feature and the offending value.
    """
    if 0 < array.size <= SMALL:
        small = _coerce_small(array, spec)
        if small is not None:
            return small
    return _coerce_any(array, spec)


def _coerce_small(array: np.ndarray, spec: TensorSpec) -> np.ndarray | None:
    """The small path: the column converted when every check passes, else None.

    Only the plain cases are decided here (a 1-D numeric column of the declared rank,
    finite, within range); anything else, valid or not, returns None and goes the
    general way, so every error is raised by one code path, with one wording.
    """
    kind = array.dtype.kind
    if array.ndim != 1 or len(spec.shape) != 1 or kind not in "iuf":
        return None
    datatype = spec.datatype
    target = _DTYPES[datatype]
    if target.kind == "f":
        if array.dtype != target:
            # a value past the target's largest would become inf in the cast (with a
            # warning): the general path refuses it as Infinity
            limit = _FLOAT_LIMITS[datatype]
            for value in array.tolist():
                if not -limit <= value <= limit:
                    return None
        out = array.astype(target, copy=False)
        values = out.tolist()
        for value in values:
            if not math.isfinite(value):
                return None
    elif target.kind in "iu" and kind in "iu":
        values = array.tolist()
        low, high = _INT_BOUNDS[datatype]
        if array.dtype != target and (min(values) < low or max(values) > high):
            return None
        out = array.astype(target, copy=False)
    else:
        return None
    want = spec.shape[0]
    if want != -1 and want != len(values):
        return None
    if (spec.minimum is not None and min(values) < spec.minimum) or (
        spec.maximum is not None and max(values) > spec.maximum
    ):
        return None
    return out


def _coerce_any(array: np.ndarray, spec: TensorSpec) -> np.ndarray:
    array = _as_dtype(array, spec)
    array = _as_shape(array, spec)
    if array.size == 0:
        return array
    if spec.datatype == "BYTES":
        _check_strings(array, spec)
    elif array.dtype.kind == "f":
        _check_floats(array, spec)
    elif spec.minimum is not None or spec.maximum is not None:
        _check_range(array, spec)
    return array


def _as_dtype(array: np.ndarray, spec: TensorSpec) -> np.ndarray:
    target = _DTYPES[spec.datatype]
    kind = array.dtype.kind
    if spec.datatype == "BYTES":
        if kind == "U":
            return array.astype(object)
        if kind in "SO":
            return _decode_bytes(array, spec)
        raise InvalidInput(f"expected strings (BYTES), got {_kind_name(kind)}", field=spec.name)
    if kind == "O":
        array = _from_objects(array, spec, target)
        kind = array.dtype.kind
    if target.kind == "b":
        if kind != "b":
            raise InvalidInput(f"expected booleans (BOOL), got {_kind_name(kind)}", field=spec.name)
        return array
    if target.kind in "iu":
        if kind not in "iu":
            raise InvalidInput(
                f"expected integers ({spec.datatype}), got {_kind_name(kind)}", field=spec.name
            )
        if array.dtype != target and array.size:
            info = np.iinfo(target)
            low, high = array.min(), array.max()
            if low < info.min or high > info.max:
                bad = low if low < info.min else high
                raise InvalidInput(
                    f"value {bad} does not fit {spec.datatype} (range {info.min} to {info.max})",
                    field=spec.name,
                )
        return array.astype(target, copy=False)
    if kind not in "iuf":
        raise InvalidInput(
            f"expected numbers ({spec.datatype}), got {_kind_name(kind)}", field=spec.name
        )
    with np.errstate(over="ignore"):  # too big for FP16/FP32 becomes inf, refused below
        return array.astype(target, copy=False)


def _from_objects(array: np.ndarray, spec: TensorSpec, target: np.dtype[Any]) -> np.ndarray:
    """Mixed Python objects: nulls (None) in a numeric column, or integers too big for int64."""
    if target.kind == "f":
        try:
            # None becomes NaN here; the NaN check below decides whether null is allowed
            return np.asarray(array, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            pass
    has_null = any(v is None for v in array.flat)
    if has_null:
        raise InvalidInput(f"null is not allowed for {spec.datatype}", field=spec.name)
    if all(isinstance(v, int) for v in array.flat):
        raise InvalidInput(f"an integer is too large for {spec.datatype}", field=spec.name)
    raise InvalidInput(f"expected {spec.datatype} values, got a mix of types", field=spec.name)


def _decode_bytes(array: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Binary BYTES arrive as bytes; models get str (UTF-8), as JSON clients send."""
    try:
        values = [v.decode("utf-8") if isinstance(v, bytes) else v for v in array.flat]
    except UnicodeDecodeError:
        raise InvalidInput("a BYTES value is not valid UTF-8", field=spec.name) from None
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out.reshape(array.shape)


def _as_shape(array: np.ndarray, spec: TensorSpec) -> np.ndarray:
    want = spec.shape
    if array.ndim == len(want) + 1 and array.shape[-1] == 1:
        array = array[..., 0]  # [N, 1] for a [-1] feature: a column sent as a matrix
    if array.ndim != len(want) or any(
        w != -1 and w != g for w, g in zip(want, array.shape, strict=True)
    ):
        raise InvalidInput(
            f"shape {list(array.shape)} does not match {list(want)} (-1 = any)",
            field=spec.name,
        )
    return array


def _check_floats(array: np.ndarray, spec: TensorSpec) -> None:
    # one reduction on the usual all-finite column; the sum is only a screen (it can
    # overflow on huge finite values), the element-wise check below decides
    if not math.isfinite(float(np.add.reduce(array, axis=None))):
        finite = np.isfinite(array)
        if not finite.all():
            nan = np.isnan(array)
            if (~finite & ~nan).any():
                raise InvalidInput("Infinity is not allowed", field=spec.name)
            if not spec.nullable:
                raise InvalidInput(
                    "null/NaN is not allowed",
                    field=spec.name,
                    hint="this feature is not nullable; send a number",
                )
    if spec.minimum is not None or spec.maximum is not None:
        _check_range(array, spec)


def _check_range(array: np.ndarray, spec: TensorSpec) -> None:
    # NaN compares false both ways, so a null passes the range check (nullability decides)
    if spec.minimum is not None and np.minimum.reduce(array, axis=None) < spec.minimum:
        low = array < spec.minimum
        if low.any():
            raise InvalidInput(
                f"{_first(array[low])} is below the minimum {spec.minimum}", field=spec.name
            )
    if spec.maximum is not None and np.maximum.reduce(array, axis=None) > spec.maximum:
        high = array > spec.maximum
        if high.any():
            raise InvalidInput(
                f"{_first(array[high])} is above the maximum {spec.maximum}", field=spec.name
            )


def _check_strings(array: np.ndarray, spec: TensorSpec) -> None:
    cats = spec.categories
    allowed = _allowed(tuple(cats)) if cats is not None else None
    for value in array.flat:
        if value is None:
            if not spec.nullable:
                raise InvalidInput("null is not allowed", field=spec.name)
        elif not isinstance(value, str):
            raise InvalidInput(f"expected strings, got {type(value).__name__}", field=spec.name)
        elif allowed is not None and cats is not None and value not in allowed:
            shown = ", ".join(cats[:_SHOWN]) + (", ..." if len(cats) > _SHOWN else "")
            raise InvalidInput(
                f"{value[:64]!r} is not a known category", field=spec.name, hint=f"one of: {shown}"
            )


@functools.cache
def _allowed(categories: tuple[str, ...]) -> frozenset[str]:
    return frozenset(categories)


def _first(values: np.ndarray) -> Any:
    return values.flat[0].item()


def _kind_name(kind: str) -> str:
    return {
        "b": "booleans",
        "i": "integers",
        "u": "integers",
        "f": "floats",
        "U": "strings",
        "S": "bytes",
        "O": "mixed values",
    }.get(kind, "values of another type")
