"""Build the Starlette app: inference, health and metadata routes, metrics, lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from shipyard.config import ServingSpec
from shipyard.serving import management
from shipyard.serving.errors import ModelNotReady, json_response, oip_error
from shipyard.serving.events import PredictionHook
from shipyard.serving.feedback import post_outcomes
from shipyard.serving.inference import mlflow_invocations, oip_infer
from shipyard.serving.metrics import CONTENT_TYPE
from shipyard.serving.oip import tensor_metadata
from shipyard.serving.openapi import openapi_document
from shipyard.serving.router import RouteContext
from shipyard.serving.runtime import ServedModel
from shipyard.serving.source import ModelSource
from shipyard.serving.state import ServerState

VERSION = "0.1.0"
EXTENSIONS = ["binary_tensor_data", "model_repository"]


def create_app(
    source: ModelSource,
    *,
    spec: ServingSpec | None = None,
    endpoints: Mapping[str, str] | None = None,
    on_prediction: PredictionHook | None = None,
) -> Starlette:
    """The model server as an ASGI app.

    Args:
        source: resolves registry references (``NAME:VERSION``, ``NAME@ALIAS``) to models.
        spec: limits, batching, timeouts and the management token.
        endpoints: ``{endpoint: reference}`` loaded at startup, each routed ``single``.
        on_prediction: called with each PredictionEvent as its response is sent.

    Example:
        >>> app = create_app(source, endpoints={"housing": "housing@champion"})  # doctest: +SKIP
        >>> uvicorn.run(app)  # doctest: +SKIP
    """
    server = ServerState(source, spec or ServingSpec(), on_prediction, version=VERSION)
    wanted = dict(endpoints or {})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for endpoint, reference in wanted.items():
            await server.route_endpoint(endpoint, reference)
        server.started = True
        try:
            yield
        finally:
            server.begin_drain()
            await server.runtime.close()

    app = Starlette(
        routes=_routes(),
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
    )
    app.state.server = server
    return app


def _routes() -> list[Route]:
    # inference first: Starlette tries routes in order, and these are the hot path
    return [
        Route("/v2/models/{name}/infer", oip_infer, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}/infer", oip_infer, methods=["POST"]),
        Route("/invocations", mlflow_invocations, methods=["POST"]),
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
        Route("/v2", server_metadata, methods=["GET"]),
        Route("/v2/models", list_models, methods=["GET"]),
        Route("/v2/models/{name}", model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}", model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/ready", model_ready, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/ready", model_ready, methods=["GET"]),
        Route("/endpoints/{name}/invocations", mlflow_invocations, methods=["POST"]),
        Route("/endpoints/{name}/outcomes", post_outcomes, methods=["POST"]),
        Route("/ping", mlflow_health, methods=["GET"]),
        Route("/health", mlflow_health, methods=["GET"]),
        Route("/version", version, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *management.routes,
    ]


def _server(request: Request) -> ServerState:
    server: ServerState = request.app.state.server
    return server


async def live(request: Request) -> Response:
    return json_response({"live": True})


async def ready(request: Request) -> Response:
    is_ready = _server(request).ready
    return json_response({"ready": is_ready}, 200 if is_ready else 503)


async def server_metadata(request: Request) -> Response:
    server = _server(request)
    return json_response({"name": server.name, "version": server.version, "extensions": EXTENSIONS})


async def list_models(request: Request) -> Response:
    server = _server(request)
    models = []
    for name in server.names():
        versions = server.versions_of(name)
        models.append(
            {
                "name": name,
                "versions": [str(m.version) for m in versions],
                "ready": all(m.ready for m in versions),
            }
        )
    return json_response({"models": models})


def _versions(request: Request) -> list[ServedModel]:
    server = _server(request)
    name = request.path_params["name"]
    version = request.path_params.get("version")
    if version is None:
        return server.versions_of(name)
    target = server.target(name, version, RouteContext(""))
    return [target.served]


async def model_metadata(request: Request) -> Response:
    try:
        versions = _versions(request)
    except Exception as exc:
        return oip_error(exc)
    newest = versions[-1]
    return json_response(
        {
            "name": request.path_params["name"],
            "versions": [str(m.version) for m in versions],
            "platform": newest.platform,
            **tensor_metadata(newest.signature),
        }
    )


async def model_ready(request: Request) -> Response:
    name = request.path_params["name"]
    try:
        versions = _versions(request)
        if not all(m.ready for m in versions):
            raise ModelNotReady(name, "it is being unloaded")
    except Exception as exc:
        return oip_error(exc)
    return json_response({"name": name, "ready": True})


async def mlflow_health(request: Request) -> Response:
    server = _server(request)
    return PlainTextResponse("\n", 200 if server.ready else 503)


async def version(request: Request) -> Response:
    return PlainTextResponse(_server(request).version)


async def metrics(request: Request) -> Response:
    return Response(_server(request).metrics.render(), media_type=CONTENT_TYPE)


async def openapi(request: Request) -> Response:
    return json_response(openapi_document(_server(request).version))


async def _http_error(request: Request, exc: Any) -> Response:
    # Starlette's own 404/405 for unknown paths and methods, in the protocol's error shape
    return json_response({"error": str(exc.detail)}, exc.status_code, exc.headers)


async def _internal_error(request: Request, exc: Exception) -> Response:
    return oip_error(exc)
