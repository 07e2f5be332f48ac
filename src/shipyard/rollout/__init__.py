"""Rollout: routing strategies, the progressive delivery controller and A/B statistics.

Owns how an endpoint splits traffic between model versions (``spec`` declares it,
``policies`` decides per request over the ``routing`` vocabulary the server shares),
how a canary is judged and moved step by step (``analysis``, ``controller``), and
the reports read by people (``experiment`` for A/B, ``shadow`` for mirrors).

How data enters and leaves:

- in: an endpoint spec from shipyard.yaml, the management API or ``shipyard deploy``
  -> ``parse_endpoint`` -> ``deploy`` pins and stores it (``store.endpoints``); a
  canary with steps starts a rollout (``store.rollouts``).
- per request (in the server): ``policy.choose(RouteContext)`` -> ``Decision``.
- the loop: ``RolloutController.tick`` reads served requests and outcomes through a
  ``RolloutMetricsSource`` -> ``analyse`` -> a decision with its evidence and the
  endpoint's next routing, written in one transaction; servers poll and apply it.

Only the light modules are imported here (the server imports ``routing`` on every
start); import ``controller``, ``analysis``, ``experiment``, ``shadow``, ``simulate``
and ``deploy`` by their paths.
"""

from shipyard.rollout.policies import (
    ABPolicy,
    BlueGreenPolicy,
    CanaryPolicy,
    ShadowPolicy,
    build_policy,
    check_fields,
)
from shipyard.rollout.routing import Decision, RouteContext, RoutingPolicy, SinglePolicy, Variant
from shipyard.rollout.spec import EndpointSpec, EndpointSpecError, dump_endpoint, parse_endpoint

__all__ = [
    "ABPolicy",
    "BlueGreenPolicy",
    "CanaryPolicy",
    "Decision",
    "EndpointSpec",
    "EndpointSpecError",
    "RouteContext",
    "RoutingPolicy",
    "ShadowPolicy",
    "SinglePolicy",
    "Variant",
    "build_policy",
    "check_fields",
    "dump_endpoint",
    "parse_endpoint",
]
