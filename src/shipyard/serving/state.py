"""What one running server holds: settings, loaded versions, endpoint routes, metrics, health.

``ServerState.target`` turns a name from a URL into the model version that answers:
an endpoint is routed by its policy; a model name (or a pinned ``/versions/{v}``)
goes straight to that loaded version.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shipyard.config import ServingSpec
from shipyard.serving.errors import ModelNotFound, ModelNotReady
from shipyard.serving.events import PredictionHook
from shipyard.serving.metrics import ServingMetrics
from shipyard.serving.router import Decision, RouteContext, Router, SinglePolicy, Variant
from shipyard.serving.runtime import Runtime, ServedModel
from shipyard.serving.shadows import ShadowGuard
from shipyard.serving.source import ModelSource

PINNED = "pinned"  # the variant label of a request that names its version
DIRECT = "direct"  # ... and of one sent to a model name rather than an endpoint


@dataclass(frozen=True, slots=True)
class Target:
    """Who answers one request, and under which labels it is counted."""

    endpoint: str
    variant: str
    served: ServedModel
    mirrors: tuple[Variant, ...] = ()
    key: str | None = None  # the routing key the policy chose by


@dataclass
class ServerState:
    """The state behind one app; routes reach it as ``request.app.state.server``."""

    source: ModelSource
    spec: ServingSpec = field(default_factory=lambda: ServingSpec())
    on_prediction: PredictionHook | None = None
    name: str = "shipyard"
    version: str = "0.1.0"
    metrics: ServingMetrics = field(default_factory=ServingMetrics)
    router: Router = field(default_factory=Router)
    shadows: ShadowGuard = field(default_factory=ShadowGuard)
    started: bool = False
    draining: bool = False
    runtime: Runtime = field(init=False)

    def __post_init__(self) -> None:
        self.runtime = Runtime(self.source, self.spec, observer=self.metrics.batch_observer)

    @property
    def ready(self) -> bool:
        """Started, not draining, and every routed version loaded."""
        if not self.started or self.draining:
            return False
        loaded = {(m.name, m.version) for m in self.runtime.all() if m.ready}
        return self.router.in_use() <= loaded

    def begin_drain(self) -> None:
        """Fail readiness from now on; requests in flight and arriving are still served."""
        self.draining = True

    async def route_endpoint(self, endpoint: str, reference: str) -> SinglePolicy:
        """Load ``reference`` and send all of ``endpoint``'s traffic to it (hot swap)."""
        served = await self.runtime.load(reference)
        policy = SinglePolicy(Variant("default", reference, served.name, served.version))
        self.router.assign(endpoint, policy)
        return policy

    def target(self, name: str, version: str | None, context: RouteContext) -> Target:
        """The model version answering a request for ``name`` (and maybe a pinned version).

        Raises:
            ModelNotFound: no endpoint or loaded model of that name or version.
            ModelNotReady: the version is being unloaded.
        """
        policy = self.router.get(name)
        if version is None:
            if policy is not None:
                decision: Decision = policy.choose(context)
                variant = decision.variant
                served = self.runtime.get(variant.model, variant.version)
                return self._check(
                    Target(name, variant.name, served, decision.mirrors, decision.key)
                )
            return self._check(Target(name, DIRECT, self.runtime.get(name)))
        if not version.isdigit() or len(version) > 10:
            raise ModelNotFound(name, version, known=self.runtime.labels())
        model = policy.variants[0].model if policy is not None else name
        return self._check(Target(name, PINNED, self.runtime.get(model, int(version))))

    def names(self) -> list[str]:
        """Every name a request may use: endpoints first, then loaded model names."""
        names = list(self.router.endpoints)
        for served in self.runtime.all():
            if served.name not in names:
                names.append(served.name)
        return names

    def versions_of(self, name: str) -> list[ServedModel]:
        """Loaded versions behind a name: an endpoint's variants, or a model's versions."""
        policy = self.router.get(name)
        if policy is None:
            versions = self.runtime.versions(name)
            if not versions:
                raise ModelNotFound(name, known=self.names())
            return versions
        return [self.runtime.get(v.model, v.version) for v in policy.variants]

    @staticmethod
    def _check(target: Target) -> Target:
        if not target.served.ready:
            raise ModelNotReady(target.served.label, "it is being unloaded")
        return target
