"""Endpoint routing: for each request, an endpoint's policy picks the variant that answers.

A ``RoutingPolicy`` sees a ``RouteContext`` (request id, headers, the protocol's
request parameters and, lazily, input features) and returns a ``Decision``: the
variant whose answer is returned, plus any mirrors (shadow variants predicted after
the response, never shown). The vocabulary and the policies (``single``, ``canary``,
``ab``, ``shadow``, ``blue_green``) live in ``shipyard.rollout``; ``Router`` is the
server's table of them.
"""

from __future__ import annotations

from collections.abc import Mapping

from shipyard.rollout.routing import (
    Decision,
    RouteContext,
    RoutingPolicy,
    SinglePolicy,
    Variant,
)
from shipyard.serving.errors import ModelNotFound

__all__ = ["Decision", "RouteContext", "Router", "RoutingPolicy", "SinglePolicy", "Variant"]


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
