"""Management API: list, load and unload model versions; set an endpoint's routing.

Every route needs ``Authorization: Bearer <serving.token>``; with no token configured
they all answer 403 "management disabled". Loading takes registry references only
(``NAME``, ``NAME:VERSION``, ``NAME@ALIAS``), never URLs or paths. Routing changes
are hot swaps: the new version is loaded before the endpoint points at it, and
requests already running on the old one finish.

Routes (errors are ``{"error": message}``, as in the Open Inference Protocol):
    GET    /management/models                        loaded versions
    POST   /management/models                        {"reference": "housing:3"}
    DELETE /management/models/{name}/versions/{v}    unload one version
    GET    /management/endpoints                     endpoint routing table
    PUT    /management/endpoints/{endpoint}          an endpoint spec (shipyard.rollout.spec):
                                                     {"strategy": "canary", "stable": REF, ...}
    DELETE /management/endpoints/{endpoint}
    POST   /v2/repository/index                      Triton's repository index
    POST   /v2/repository/models/{name}/load         {"parameters": {"version"|"alias": ..}}
    POST   /v2/repository/models/{name}/unload       every version not routed, or one
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shipyard.rollout.spec import parse_endpoint
from shipyard.serving.errors import (
    Conflict,
    InvalidInput,
    ManagementDisabled,
    ModelNotFound,
    Unauthorized,
    json_response,
    oip_error,
)
from shipyard.serving.limits import parse_json, read_body
from shipyard.serving.routing_policies import EndpointSync, apply_spec
from shipyard.serving.state import ServerState
from shipyard.store.rollouts import RolloutActiveError

MAX_MANAGEMENT_BODY = 64 * 1024

Handler = Callable[[Request, ServerState], Awaitable[Any]]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoadSpec(_Body):
    reference: str = Field(max_length=320)


class RepositoryParameters(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)  # Triton sends config overrides
    version: int | str | None = None
    alias: str | None = None


class RepositoryLoad(_Body):
    parameters: RepositoryParameters = Field(default_factory=RepositoryParameters)


def _authorise(request: Request, server: ServerState) -> None:
    token = server.spec.token
    if not token:
        raise ManagementDisabled()
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        raise Unauthorized()


async def _parse(request: Request, model: type[_Body], *, optional: bool = False) -> Any:
    body = await read_body(request, MAX_MANAGEMENT_BODY)
    if optional and not body.strip():
        return model()
    try:
        return model.model_validate(parse_json(body))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "body"
        raise InvalidInput(f"{where}: {err['msg']}") from None


def _route(path: str, handler: Handler, method: str) -> Route:
    async def endpoint(request: Request) -> Response:
        server: ServerState = request.app.state.server
        try:
            _authorise(request, server)
            payload = await handler(request, server)
        except Exception as exc:
            return oip_error(exc)
        if payload is None:
            return Response(status_code=200)
        return json_response(payload)

    return Route(path, endpoint, methods=[method], name=f"management:{handler.__name__}")


async def list_models(request: Request, server: ServerState) -> Any:
    return {"models": [m.to_dict() for m in server.runtime.all()]}


async def load_model(request: Request, server: ServerState) -> Any:
    spec: LoadSpec = await _parse(request, LoadSpec)
    return (await server.runtime.load(spec.reference)).to_dict()


async def unload_version(request: Request, server: ServerState) -> Any:
    name = request.path_params["name"]
    version = _version(request.path_params["version"])
    _refuse_if_routed(server, name, version)
    return {"unloaded": (await server.runtime.unload(name, version)).to_dict()}


async def list_endpoints(request: Request, server: ServerState) -> Any:
    table: dict[str, Any] = {
        "endpoints": {n: p.to_dict() for n, p in server.router.endpoints.items()}
    }
    sync: EndpointSync | None = getattr(request.app.state, "endpoint_sync", None)
    if sync is not None:  # stored revisions applied here, and why any was not
        table["store"] = sync.describe()
    return table


async def set_endpoint(request: Request, server: ServerState) -> Any:
    """Route an endpoint by any spec of ``shipyard.rollout.spec`` (hot swap); with a store
    attached the spec is also stored, and a canary with steps starts its rollout."""
    name = request.path_params["endpoint"]
    raw = parse_json(await read_body(request, MAX_MANAGEMENT_BODY))
    spec = parse_endpoint(name, raw, where=f"endpoint '{name}'")
    sync: EndpointSync | None = getattr(request.app.state, "endpoint_sync", None)
    try:
        if sync is not None:
            policy, _ = await sync.put(name, spec, actor="management-api")
        else:
            policy = await apply_spec(server, name, spec)
    except RolloutActiveError as exc:
        raise Conflict(exc.message, hint=exc.hint) from None
    return policy.to_dict()


async def remove_endpoint(request: Request, server: ServerState) -> Any:
    name = request.path_params["endpoint"]
    sync: EndpointSync | None = getattr(request.app.state, "endpoint_sync", None)
    policy = await sync.delete(name, actor="management-api") if sync else server.router.remove(name)
    return {"removed": policy.to_dict()}


async def repository_index(request: Request, server: ServerState) -> Any:
    return [
        {"name": m.name, "version": str(m.version), "state": "READY" if m.ready else "UNAVAILABLE"}
        for m in server.runtime.all()
    ]


async def repository_load(request: Request, server: ServerState) -> Any:
    name = request.path_params["name"]
    params = (await _parse(request, RepositoryLoad, optional=True)).parameters
    if params.version is not None and params.alias is not None:
        raise InvalidInput("give parameters.version or parameters.alias, not both")
    reference = name
    if params.version is not None:
        reference = f"{name}:{params.version}"
    elif params.alias is not None:
        reference = f"{name}@{params.alias}"
    await server.runtime.load(reference)
    return None


async def repository_unload(request: Request, server: ServerState) -> Any:
    name = request.path_params["name"]
    params = (await _parse(request, RepositoryLoad, optional=True)).parameters
    if params.version is not None:
        versions = [_version(str(params.version))]
    else:
        loaded = [m.version for m in server.runtime.versions(name)]
        if not loaded:
            raise ModelNotFound(name, known=server.runtime.labels())
        versions = [v for v in loaded if (name, v) not in server.router.in_use()]
    for version in versions:
        _refuse_if_routed(server, name, version)
        await server.runtime.unload(name, version)
    return None


def _version(text: str) -> int:
    if not text.isdigit() or len(text) > 10:
        raise InvalidInput(f"version {text[:20]!r} is not a whole number")
    return int(text)


def _refuse_if_routed(server: ServerState, name: str, version: int) -> None:
    users = [
        endpoint
        for endpoint, policy in server.router.endpoints.items()
        if any(v.model == name and v.version == version for v in policy.variants)
    ]
    if users:
        raise Conflict(
            f"{name}:{version} is routed by endpoint(s) {', '.join(users)}",
            hint="route those endpoints elsewhere first (PUT /management/endpoints/NAME)",
        )


routes = [
    _route("/management/models", list_models, "GET"),
    _route("/management/models", load_model, "POST"),
    _route("/management/models/{name}/versions/{version}", unload_version, "DELETE"),
    _route("/management/endpoints", list_endpoints, "GET"),
    _route("/management/endpoints/{endpoint}", set_endpoint, "PUT"),
    _route("/management/endpoints/{endpoint}", remove_endpoint, "DELETE"),
    _route("/v2/repository/index", repository_index, "POST"),
    _route("/v2/repository/models/{name}/load", repository_load, "POST"),
    _route("/v2/repository/models/{name}/unload", repository_unload, "POST"),
]
