"""Deploy an endpoint's routing from outside the server: validate, pin, store, start a rollout.

Path, in four hops: ``parse_endpoint`` validates the spec -> each reference is
resolved in the registry and pinned to its version, and every routed feature is
checked against the versions' signatures -> ``EndpointStore.put`` writes a new
revision -> a canary with steps starts its rollout. A running server picks the
revision up on its next poll; nothing here talks to the server. A spec refused at
any hop leaves the stored routing (and the server's) as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.rollout.policies import check_fields
from shipyard.rollout.spec import (
    BlueGreenSpec,
    CanarySpec,
    EndpointSpec,
    EndpointSpecError,
    dump_endpoint,
    parse_endpoint,
    pin,
)
from shipyard.store.endpoints import EndpointRecord, EndpointStore
from shipyard.store.rollouts import RolloutActiveError, RolloutStore

if TYPE_CHECKING:
    from shipyard.project import Project


@dataclass(frozen=True)
class Deployment:
    """What ``deploy`` stored: the pinned spec, its revision, and the rollout it started."""

    endpoint: str
    spec: Mapping[str, Any]
    revision: int
    rollout_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "spec": dict(self.spec),
            "revision": self.revision,
            "rollout_id": self.rollout_id,
        }


def resolve(
    project: Project, endpoint: str, spec: EndpointSpec, *, where: str = ""
) -> EndpointSpec:
    """Pin every reference of ``spec`` to a registered version and check its routed features.

    Raises:
        EndpointSpecError: a reference names no registered version, or a routed
            feature is missing from a version's signature.
    """
    from shipyard.bundle import Bundle
    from shipyard.errors import RegistryError
    from shipyard.registry import Registry

    registry = Registry(project)
    where = where or f"endpoint {endpoint!r}"
    pinned: dict[str, str] = {}
    inputs: dict[str, list[str]] = {}
    problems = []
    for role, ref in spec.references().items():
        try:
            version = registry.get(ref)
        except (RegistryError, LookupError, ValueError) as exc:
            problems.append(f"{role}: {exc}")
            continue
        pinned[role] = version.ref
        if spec.fields() or getattr(spec, "rollout", None) is not None:
            inputs[role] = Bundle.open(registry.bundle_path(version.ref)).signature.input_names
    if problems:
        raise EndpointSpecError(where, problems, hint="deploy registered versions only")
    check_fields(endpoint, spec, inputs, where=where)
    return pin(spec, pinned)


def deploy(
    project: Project,
    endpoint: str,
    raw: Mapping[str, Any] | EndpointSpec,
    *,
    actor: str = "user",
    reason: str | None = None,
    where: str = "",
) -> Deployment:
    """Validate and store an endpoint's routing; start its rollout when it has steps.

    Raises:
        EndpointSpecError: the spec is invalid, names an unknown version or routes on
            a feature a version lacks (nothing is stored).
        RolloutActiveError: the endpoint's current rollout must finish or be aborted first.
    """
    spec = (
        raw
        if not isinstance(raw, Mapping)
        else parse_endpoint(endpoint, dict(raw), where=where or None)
    )
    rollouts = RolloutStore(project.db)
    active = rollouts.active(endpoint)
    if active:
        raise RolloutActiveError(endpoint, active[0].id, active[0].state)
    spec = resolve(project, endpoint, spec, where=where)
    if isinstance(spec, CanarySpec) and spec.rollout is not None:
        from shipyard.rollout.analysis import StoreMetricsSource
        from shipyard.rollout.controller import RolloutController
        from shipyard.store.events import EventStore

        record = EndpointStore(project.db).put(
            endpoint, dump_endpoint(spec), actor=actor, reason=reason or "deploy (rollout)"
        )
        controller = RolloutController(project.db, StoreMetricsSource(EventStore(project.db)))
        rollout = controller.start(endpoint, spec, actor=actor)
        return Deployment(endpoint, record.spec, record.revision, rollout.id)
    record = EndpointStore(project.db).put(
        endpoint, dump_endpoint(spec), actor=actor, reason=reason
    )
    return Deployment(endpoint, record.spec, record.revision)


def switch(
    project: Project, endpoint: str, *, actor: str = "user", to: str | None = None
) -> EndpointRecord:
    """Flip a blue-green endpoint's active side (or set it to ``to``); instant, and reversible.

    Raises:
        EndpointSpecError: the endpoint is not blue-green.
    """
    store = EndpointStore(project.db)
    current = store.require(endpoint)
    spec = parse_endpoint(endpoint, dict(current.spec))
    if not isinstance(spec, BlueGreenSpec):
        raise EndpointSpecError(
            f"endpoint {endpoint!r}",
            [f"is {spec.strategy}, not blue_green"],
            hint="switch applies to blue-green endpoints; deploy one with --strategy blue_green",
        )
    target = to or ("green" if spec.active == "blue" else "blue")
    if target not in ("blue", "green"):
        raise EndpointSpecError(f"endpoint {endpoint!r}", [f"cannot switch to {target!r}"])
    data = {**dump_endpoint(spec), "active": target}
    return store.put(
        endpoint,
        data,
        actor=actor,
        reason=f"switch to {target}",
        expected_revision=current.revision,
    )


def seed(project: Project, *, actor: str = "shipyard.yaml") -> list[Deployment]:
    """Store each endpoint of ``shipyard.yaml`` that the store does not have yet.

    The store wins for endpoints it has: it holds later changes (deploys, rollouts).

    Raises:
        EndpointSpecError: naming ``shipyard.yaml endpoints.NAME`` and the bad key.
    """
    store = EndpointStore(project.db)
    done = []
    for name, raw in project.settings.endpoints.items():
        where = f"shipyard.yaml endpoints.{name}"
        spec = parse_endpoint(name, raw, where=where)
        if store.get(name) is None:
            done.append(
                deploy(project, name, spec, actor=actor, reason="from shipyard.yaml", where=where)
            )
    return done
