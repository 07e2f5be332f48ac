"""One table maps every error to its HTTP status; bodies carry messages, never internals."""

from __future__ import annotations

import pytest

from shipyard.errors import BundleError, ConfigError, IntegrityError, NotFoundError, StoreError
from shipyard.registry.errors import ModelNotFoundError
from shipyard.registry.reference import InvalidReferenceError
from shipyard.serving.errors import (
    Conflict,
    InferenceTimeout,
    InvalidInput,
    ManagementDisabled,
    ModelNotFound,
    ModelNotReady,
    Overloaded,
    PayloadTooLarge,
    PredictionFailed,
    Unauthorized,
    UnsupportedMediaType,
    mlflow_error,
    oip_error,
    status_of,
)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidInput("bad", field="x"), 400),
        (PayloadTooLarge("body", 10, 5), 413),
        (UnsupportedMediaType("text/plain", ("application/json",)), 415),
        (ModelNotFound("m"), 404),
        (ModelNotReady("m", "loading"), 503),
        (Overloaded("m:1", 10), 429),
        (InferenceTimeout("m:1", 1.0), 504),
        (PredictionFailed("m:1", ValueError("x")), 500),
        (Unauthorized(), 401),
        (ManagementDisabled(), 403),
        (Conflict("in use"), 409),
        (InvalidReferenceError("/etc/passwd", "bad"), 400),
        (ModelNotFoundError("m", []), 404),
        (NotFoundError("run", "r1"), 404),
        (ConfigError("bad key"), 400),
        (IntegrityError("model.onnx", "a" * 64, None), 422),
        (BundleError("cannot load"), 422),
        (StoreError("database is locked"), 500),
        (ValueError("from deep inside"), 500),
        (RuntimeError("boom"), 500),
    ],
)
def test_status_of_each_error(error: Exception, status: int) -> None:
    assert status_of(error) == status


def test_error_bodies_in_each_protocol_shape() -> None:
    error = InvalidInput("is missing", field="age", hint="send it")
    oip = oip_error(error)
    assert oip.status_code == 400 and oip.body == b'{"error":"input \'age\': is missing. send it"}'
    mlflow = mlflow_error(error)
    assert (
        mlflow.body
        == b'{"error_code":"BAD_REQUEST","message":"input \'age\': is missing. send it"}'
    )
    hidden = oip_error(RuntimeError("/secret/path.py line 3"))
    assert hidden.status_code == 500 and b"/secret" not in hidden.body
