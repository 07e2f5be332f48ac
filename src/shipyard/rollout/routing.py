"""The routing vocabulary: a variant, what a policy may look at, and what it decides.

These types sit in ``rollout`` (below ``serving``) so that the routing policies here
and the server's router share them; ``shipyard.serving.router`` re-exports them.
A ``RoutingPolicy`` sees a ``RouteContext`` (request id, headers, the inference
protocol's request parameters and, lazily, the request's input features) and returns
a ``Decision``: the variant whose answer is returned, plus any mirrors (shadow
variants predicted after the response, never shown).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

FeatureLookup = Callable[[str], Any]


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
    """What a policy may look at when choosing.

    ``headers`` have lower-case names. ``parameters`` are the request's protocol
    parameters (Open Inference Protocol ``parameters``, MLflow ``params``).
    ``features``, when the server offers it, returns an input feature's first-row
    value by name (``None`` when the request has no such input); the server decodes
    the body for it only when the endpoint's policy routes on a feature.
    """

    request_id: str
    headers: Mapping[str, str] = field(default_factory=dict)
    parameters: Mapping[str, Any] = field(default_factory=dict)
    features: FeatureLookup | None = None

    def feature(self, name: str) -> Any:
        """An input feature's value for this request, or None when it is not available."""
        return None if self.features is None else self.features(name)


@dataclass(frozen=True)
class Decision:
    """The variant that answers, the variants mirrored after the response, and why.

    ``key`` is the routing key the decision was made on (e.g. a user id), kept with
    the prediction event so experiments can count units, not requests.
    """

    variant: Variant
    mirrors: tuple[Variant, ...] = ()
    key: str | None = None


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
