"""Serving's errors, and the one place every ShipyardError is given an HTTP status and body.

Handlers raise; the edge renders. A message may name a field, a value, a model or a
limit, never a traceback or a file path: the body goes to whoever sent the request.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.responses import Response

from shipyard.errors import (
    BundleError,
    ConfigError,
    MonitoringError,
    RegistryError,
    RolloutError,
    ServingError,
    ShipyardError,
)

logger = logging.getLogger("shipyard.serving")


class InvalidInput(ServingError, ValueError):
    """A request body, tensor or feature value is not what the model's signature allows."""

    def __init__(self, problem: str, *, field: str | None = None, hint: str | None = None) -> None:
        self.field = field
        self.problem = problem
        where = f"input '{field}': " if field is not None else ""
        super().__init__(f"{where}{problem}", hint=hint)


class PayloadTooLarge(ServingError, ValueError):
    """The body, once read or decompressed, or the batch, exceeds a configured limit."""

    def __init__(self, what: str, size: int | str, limit: int) -> None:
        self.what = what
        self.size = size
        self.limit = limit
        super().__init__(
            f"{what} ({size}) exceeds the limit of {limit}",
            hint="send smaller requests, or raise the limit in serving: of shipyard.yaml",
        )


class UnsupportedMediaType(ServingError, ValueError):
    """The Content-Type or Content-Encoding is not one this route reads."""

    def __init__(self, value: str, allowed: tuple[str, ...], *, header: str = "Content-Type"):
        self.value = value
        self.allowed = allowed
        super().__init__(
            f"{header} {value[:80]!r} is not supported", hint=f"use one of: {', '.join(allowed)}"
        )


class ModelNotFound(ServingError, LookupError):
    """No endpoint or loaded model version answers to this name."""

    def __init__(self, name: str, version: str | None = None, *, known: list[str] | None = None):
        self.name = name
        self.version = version
        what = f"model '{name[:200]}'" + (f" version '{version[:40]}'" if version else "")
        hint = f"served: {', '.join(known[:20])}" if known else "nothing is loaded yet"
        super().__init__(f"{what} is not served here", hint=hint)


class ModelNotReady(ServingError):
    """The model exists but is loading, unloading or the server is draining."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        super().__init__(f"model '{name}' is not ready: {reason}", hint="retry shortly")


class Overloaded(ServingError):
    """A model's queue is full; the client should back off."""

    def __init__(self, model: str, queued_rows: int) -> None:
        self.model = model
        super().__init__(f"model {model} has {queued_rows} rows queued", hint="retry with backoff")


class InferenceTimeout(ServingError, TimeoutError):
    """The prediction did not finish within the request timeout."""

    def __init__(self, model: str, timeout_s: float) -> None:
        self.model = model
        self.timeout_s = timeout_s
        super().__init__(
            f"model {model} did not answer within {timeout_s:g} s",
            hint="retry later, or raise serving.request_timeout_s",
        )


class PredictionFailed(ServingError):
    """The model raised while predicting; the traceback is logged, not returned."""

    def __init__(self, model: str, error: BaseException) -> None:
        self.model = model
        self.error = error
        super().__init__(
            f"model {model} failed to predict ({type(error).__name__})",
            hint="the server log has the traceback; check the input against the signature",
        )


class Unauthorized(ServingError, PermissionError):
    """A management route was called without the right bearer token."""

    def __init__(self) -> None:
        super().__init__(
            "management routes need a valid bearer token",
            hint="send 'Authorization: Bearer <serving.token>'",
        )


class ManagementDisabled(ServingError, PermissionError):
    """No management token is configured, so management routes are off."""

    def __init__(self) -> None:
        super().__init__(
            "management disabled", hint="set serving.token (SHIPYARD_SERVING__TOKEN) to enable it"
        )


class Conflict(ServingError, ValueError):
    """The request contradicts the server's state (e.g. unloading a routed version)."""


# Checked along the exception's MRO, so a leaf beats the builtin it also subclasses.
_STATUS: dict[type[BaseException], int] = {
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    ModelNotReady: 503,
    Overloaded: 429,
    InferenceTimeout: 504,
    PredictionFailed: 500,
    Unauthorized: 401,
    ManagementDisabled: 403,
    Conflict: 409,
    BundleError: 422,  # a bundle that fails to load or verify: refused, whatever builtin
    LookupError: 404,
    PermissionError: 403,
    TimeoutError: 504,
    ValueError: 400,
}
# Only when no leaf or builtin above matched.
_BRANCH_STATUS: dict[type[BaseException], int] = {
    ConfigError: 400,
    RegistryError: 404,
    RolloutError: 409,
    MonitoringError: 500,
}

_MLFLOW_CODES = {
    404: "RESOURCE_DOES_NOT_EXIST",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL_ERROR",
    503: "TEMPORARILY_UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def status_of(exc: BaseException) -> int:
    """The HTTP status for an error: 4xx for the caller's mistakes, 5xx for ours."""
    if not isinstance(exc, ShipyardError):
        return 500  # a bare ValueError from deep inside is our bug, not the caller's
    mro = type(exc).__mro__
    for table in (_STATUS, _BRANCH_STATUS):
        for cls in mro:
            status = table.get(cls)
            if status is not None:
                return status
    return 500


def public_message(exc: BaseException) -> str:
    """What the caller may read: a ShipyardError's message, else a generic one."""
    if isinstance(exc, ShipyardError):
        return str(exc)
    return "internal server error; the server log has the details"


def _log(exc: BaseException, status: int, request_id: str | None) -> None:
    if status >= 500:
        cause = exc.error if isinstance(exc, PredictionFailed) else exc
        logger.error(
            "request %s failed with %d",
            request_id,
            status,
            exc_info=(type(cause), cause, cause.__traceback__),
        )


def oip_error(exc: BaseException, request_id: str | None = None) -> Response:
    """An Open Inference Protocol error: body exactly ``{"error": message}``."""
    status = status_of(exc)
    _log(exc, status, request_id)
    return json_response({"error": public_message(exc)}, status)


def mlflow_error(exc: BaseException, request_id: str | None = None) -> Response:
    """An MLflow scoring-server error: ``{"error_code", "message"}``."""
    status = status_of(exc)
    _log(exc, status, request_id)
    code = _MLFLOW_CODES.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL_ERROR")
    return json_response({"error_code": code, "message": public_message(exc)}, status)


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A JSON response serialised with orjson (numpy arrays included)."""
    body = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, status, headers, media_type="application/json")
