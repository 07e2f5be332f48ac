"""Endpoint routing: for each request, an endpoint's policy picks the variant that answers.

A ``RoutingPolicy`` sees a ``RouteContext`` (request id and headers, for sticky keys)
and returns a ``Decision``: the variant whose answer is returned, plus any mirrors
(shadow variants predicted after the response, never shown). ``SinglePolicy`` is the
default: one model version takes all traffic. Canary, A/B, shadow and blue-green
policies plug in here by implementing the same protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from shipyard.serving.errors import ModelNotFound


@dataclass(frozen=True)
class Variant:
    """One arm of an endpoint: a named, resolved model version."""

    name: str
    reference: str  # as configured, e.g. "housing@champion"
    model: str
    version: int

    @property
    def label(self) -> str:
        return f"{self.model}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "reference": self.reference,
            "model": self.model,
            "version": self.version,
        }


@dataclass(frozen=True)
class RouteContext:
    """What a policy may look at when choosing: never the body, so routing stays cheap."""

    request_id: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """The variant that answers, and the variants mirrored after the response."""

    variant: Variant
    mirrors: tuple[Variant, ...] = ()


class RoutingPolicy(Protocol):
    """Decides, per request, which variant of an endpoint answers."""

    @property
    def kind(self) -> str:
        """The policy's name in the endpoint table: ``single``, ``canary``, ..."""
        ...

    @property
    def variants(self) -> tuple[Variant, ...]:
        """Every variant the policy may choose or mirror; the server keeps them loaded."""
        ...

    def choose(self, context: RouteContext) -> Decision: ...

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class SinglePolicy:
    """All traffic to one model version."""

    variant: Variant
    kind: str = "single"

    @property
    def variants(self) -> tuple[Variant, ...]:
        return (self.variant,)

    def choose(self, context: RouteContext) -> Decision:
        return Decision(self.variant)

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.kind, "variants": [self.variant.to_dict()]}


class Router:
    """The endpoint table: endpoint name -> routing policy, swapped atomically."""

    def __init__(self) -> None:
        self._policies: dict[str, RoutingPolicy] = {}

    @property
    def endpoints(self) -> Mapping[str, RoutingPolicy]:
        return dict(self._policies)

    @property
    def default_endpoint(self) -> str | None:
        """The first endpoint configured; MLflow's ``/invocations`` goes there."""
        return next(iter(self._policies), None)

    def assign(self, endpoint: str, policy: RoutingPolicy) -> RoutingPolicy | None:
        """Route ``endpoint`` by ``policy`` from the next request on; return the old policy."""
        old = self._policies.get(endpoint)
        self._policies[endpoint] = policy
        return old

    def remove(self, endpoint: str) -> RoutingPolicy:
        try:
            return self._policies.pop(endpoint)
        except KeyError:
            raise ModelNotFound(endpoint, known=list(self._policies)) from None

    def get(self, endpoint: str) -> RoutingPolicy | None:
        return self._policies.get(endpoint)

    def route(self, endpoint: str, context: RouteContext) -> Decision:
        """The policy's decision for one request to ``endpoint``."""
        policy = self._policies.get(endpoint)
        if policy is None:
            raise ModelNotFound(endpoint, known=list(self._policies))
        return policy.choose(context)

    def in_use(self) -> set[tuple[str, int]]:
        """Every (model, version) some endpoint may route or mirror to."""
        return {(v.model, v.version) for p in self._policies.values() for v in p.variants}
