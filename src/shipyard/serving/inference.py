"""The request path shared by both protocols: route -> validate -> predict (batched) -> respond.

One function, ``answer``, walks every inference request through the same four hops;
the Open Inference Protocol and MLflow differ only in how a body is decoded, a result
encoded and an error shaped (``OIP`` and ``MLFLOW`` below). The prediction event is
queued as the response is built; shadow predictions run after it is sent and never
call the router.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from shipyard.bundle.signature import Signature
from shipyard.serving import mlflow_protocol, oip
from shipyard.serving.errors import ModelNotFound, mlflow_error, oip_error, status_of
from shipyard.serving.events import PredictionEvent, emit
from shipyard.serving.limits import read_body
from shipyard.serving.router import RouteContext, Variant
from shipyard.serving.state import ServerState, Target
from shipyard.serving.validation import validate_columns

logger = logging.getLogger("shipyard.serving")

# Bodies above this are decoded and validated in a worker thread, off the event loop.
OFFLOAD_BYTES = 256 * 1024
MAX_REQUEST_ID = 128

Columns = dict[str, np.ndarray]
Decoded = tuple[Columns, int, Any]


@dataclass(frozen=True)
class Protocol:
    """How one wire protocol decodes bodies, encodes results and shapes errors."""

    decode: Callable[[bytes, Mapping[str, str], Signature, int], Decoded]
    encode: Callable[[Any, Mapping[str, np.ndarray], Target, str], tuple[bytes, dict[str, str]]]
    error: Callable[[BaseException, str | None], Response]
    parameters: Callable[[Any], Mapping[str, Any]] = lambda decoded: {}  # for routing


def _oip_decode(body: bytes, headers: Mapping[str, str], sig: Signature, max_rows: int) -> Decoded:
    request = oip.decode_request(body, headers.get(oip.HEADER_LENGTH))
    columns, rows = validate_columns(request.inputs, sig, max_rows=max_rows)
    return columns, rows, request


def _oip_encode(
    request: oip.InferRequest, outputs: Mapping[str, np.ndarray], target: Target, rid: str
) -> tuple[bytes, dict[str, str]]:
    served = target.served
    body, header_length = oip.encode_response(
        request,
        outputs,
        served.signature,
        model_name=served.name,
        model_version=str(served.version),
        request_id=rid,
    )
    if header_length is None:
        return body, {"content-type": "application/json"}
    return body, {
        "content-type": "application/octet-stream",
        "inference-header-content-length": str(header_length),
    }


def _mlflow_decode(
    body: bytes, headers: Mapping[str, str], sig: Signature, max_rows: int
) -> Decoded:
    raw = mlflow_protocol.decode(body, headers.get("content-type"), sig)
    columns, rows = validate_columns(raw, sig, max_rows=max_rows)
    return columns, rows, None


def _mlflow_encode(
    _: None, outputs: Mapping[str, np.ndarray], target: Target, rid: str
) -> tuple[bytes, dict[str, str]]:
    return mlflow_protocol.encode(outputs), {"content-type": "application/json"}


OIP = Protocol(_oip_decode, _oip_encode, oip_error, lambda request: request.parameters)
MLFLOW = Protocol(_mlflow_decode, _mlflow_encode, mlflow_error)


def new_request_id() -> str:
    """32 hex digits: the time in microseconds, then 72 random bits (like a UUIDv7).

    Ids that grow with time are appended to the event store's primary-key index instead
    of landing at random pages of it, and they cost a third of ``uuid4().hex``.
    """
    return f"{time.time_ns() // 1000:014x}{os.urandom(9).hex()}"


async def oip_infer(request: Request) -> Response:
    """POST /v2/models/{name}[/versions/{version}]/infer"""
    params = request.path_params
    return await answer(request, params["name"], params.get("version"), OIP)


async def mlflow_invocations(request: Request) -> Response:
    """POST /invocations (the default endpoint) and /endpoints/{name}/invocations"""
    server: ServerState = request.app.state.server
    name = request.path_params.get("name") or server.router.default_endpoint
    return await answer(request, name, None, MLFLOW)


async def answer(
    request: Request, name: str | None, version: str | None, protocol: Protocol
) -> Response:
    """Walk one inference request through route -> validate -> predict -> respond."""
    server: ServerState = request.app.state.server
    spec = server.spec
    started = time.perf_counter()
    arrived = time.time()
    # one pass over the raw headers; Starlette's Headers.get scans them on every call
    raw = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]}
    rid = raw.get("x-request-id", "")[:MAX_REQUEST_ID] or new_request_id()
    target: Target | None = None
    server.metrics.in_flight.inc()
    try:
        if name is None:
            raise ModelNotFound("(default endpoint)", known=server.names())
        policy = server.router.get(name) if version is None else None
        if policy is not None and not getattr(policy, "reads", frozenset()) <= {"header"}:
            # the policy routes on parameters or features: decode first, with the
            # signature of the endpoint's first variant, then route
            body = await read_body(request, spec.max_body_bytes, raw)
            first = policy.variants[0]
            signature = server.runtime.get(first.model, first.version).signature
            columns, rows, decoded = await _decode(
                protocol, body, raw, signature, spec.max_batch_rows
            )
            context = RouteContext(rid, raw, protocol.parameters(decoded), _features(columns))
            target = server.target(name, version, context)
            if target.served.signature != signature:
                columns, rows = validate_columns(
                    columns, target.served.signature, max_rows=spec.max_batch_rows
                )
        else:
            target = server.target(name, version, RouteContext(rid, raw))
            body = await read_body(request, spec.max_body_bytes, raw)
            args = (body, raw, target.served.signature, spec.max_batch_rows)
            columns, rows, decoded = await _decode(protocol, *args)
        outputs = await target.served.batcher.predict(columns, rows, spec.request_timeout_s)
        content, headers = protocol.encode(decoded, outputs, target, rid)
    except ClientDisconnect:
        return Response(status_code=499)  # nobody is listening; counted nowhere
    except Exception as exc:
        response = protocol.error(exc, rid)
        response.headers["x-request-id"] = rid
        _record(server, target, response.status_code, started)
        hook = server.on_prediction
        if target is not None and hook is not None and getattr(hook, "records_status", False):
            served = target.served
            failed = PredictionEvent(
                rid, arrived, target.endpoint, served.name, served.version, target.variant,
                {}, {}, time.perf_counter() - started, status=response.status_code, key=target.key,
            )  # fmt: skip
            response.background = BackgroundTask(emit, hook, failed)
        return response
    finally:
        server.metrics.in_flight.dec()
    served = target.served
    headers["x-request-id"] = rid
    headers["x-shipyard-model"] = served.name
    headers["x-shipyard-model-version"] = str(served.version)
    headers["x-shipyard-variant"] = target.variant
    latency = time.perf_counter() - started
    background = None
    hook = server.on_prediction
    if hook is not None or target.mirrors:
        event = PredictionEvent(
            rid, arrived, target.endpoint, served.name, served.version, target.variant,
            columns, outputs, latency, key=target.key,
        )  # fmt: skip
        if hook is not None:
            emit(hook, event)  # a queue append: cheaper inline than as a background task
        if target.mirrors:
            background = BackgroundTask(_shadows, server, event, target.mirrors, rows)
    _record(server, target, 200, started)
    return Response(content, 200, headers, background=background)


async def _decode(
    protocol: Protocol, body: bytes, headers: Mapping[str, str], signature: Signature, rows: int
) -> Decoded:
    args = (body, headers, signature, rows)
    if len(body) > OFFLOAD_BYTES:
        return await asyncio.to_thread(protocol.decode, *args)
    return protocol.decode(*args)


def _features(columns: Mapping[str, np.ndarray]) -> Callable[[str], Any]:
    """A routing policy's view of the request's inputs: a feature's first-row value."""

    def first(name: str) -> Any:
        values = columns.get(name)
        if values is None or values.size == 0:
            return None
        return values.reshape(-1)[0]

    return first


def _record(server: ServerState, target: Target | None, code: int, started: float) -> None:
    if target is None:
        server.metrics.record("", "", "", code, time.perf_counter() - started)
    else:
        server.metrics.record(
            target.endpoint, target.served.label, target.variant, code,
            time.perf_counter() - started,
        )  # fmt: skip


async def _shadows(
    server: ServerState, event: PredictionEvent, mirrors: tuple[Variant, ...], rows: int
) -> None:
    """After the response: each shadow prediction and its event."""
    hook = server.on_prediction
    guard = server.shadows
    for variant in mirrors:
        if not guard.admit(variant.label):
            continue  # failing or swamped: it gets no more of the primary's time for now
        started = time.perf_counter()
        try:
            served = server.runtime.get(variant.model, variant.version)
            columns, _ = validate_columns(
                event.inputs, served.signature, max_rows=server.spec.max_batch_rows
            )
            outputs = await served.batcher.predict(columns, rows, server.spec.request_timeout_s)
        except Exception as exc:
            guard.done(variant.label, exc, event.request_id)
            if hook is not None and getattr(hook, "records_status", False):
                emit(hook, PredictionEvent(
                    event.request_id, event.time, event.endpoint, variant.model, variant.version,
                    variant.name, {}, {}, time.perf_counter() - started, shadow=True,
                    status=status_of(exc), key=event.key,
                ))  # fmt: skip
            continue
        guard.done(variant.label)
        if hook is not None:
            emit(hook, PredictionEvent(
                event.request_id, event.time, event.endpoint, served.name, served.version,
                variant.name, columns, outputs, time.perf_counter() - started, shadow=True,
                key=event.key,
            ))  # fmt: skip
