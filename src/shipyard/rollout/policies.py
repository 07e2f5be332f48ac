"""Routing policies beyond ``single``: canary, A/B, shadow and blue-green.

Each implements ``RoutingPolicy`` (``shipyard.rollout.routing``): ``choose`` is a few
dictionary look-ups and one 8-byte BLAKE2b hash, so routing stays off the profile.
Assignment by a key is sticky: a unit (user, session) hashed with the policy's salt
lands in a fixed bucket in [0, 100), and a variant owns a range of buckets, so
raising a canary's weight from 5 to 25 keeps everyone already on the canary there.
Requests without a key hash their request id instead (not sticky, still split).

A policy never answers with a variant that is not ready when another is: ``ready``
is the server's check (the version is loaded and not being unloaded). ``reads``
tells the server what a policy looks at (``header``, ``parameter``, ``feature``), so
it decodes the body before routing only for the policies that need it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shipyard.rollout.routing import Decision, RouteContext, SinglePolicy, Variant
from shipyard.rollout.spec import (
    ABSpec,
    BlueGreenSpec,
    CanarySpec,
    EndpointSpec,
    EndpointSpecError,
    FieldRef,
    ShadowSpec,
    SingleSpec,
    dump_endpoint,
)

Ready = Callable[[Variant], bool]
MAX_KEY = 200
_SCALE = 100.0 / 2**64


def _always_ready(variant: Variant) -> bool:
    return True


def bucket(salt: str, key: str) -> float:
    """Where ``key`` falls in [0, 100) for ``salt``: uniform, and fixed for the pair."""
    digest = hashlib.blake2b(f"{salt}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") * _SCALE


def read_field(context: RouteContext, ref: FieldRef) -> str | None:
    """A routing field's value in one request, as text; None when the request lacks it."""
    if ref.source == "header":
        value: Any = context.headers.get(ref.name.lower())
    elif ref.source == "parameter":
        value = context.parameters.get(ref.name)
    else:
        value = context.feature(ref.name)
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()  # a numpy scalar
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return text[:MAX_KEY] if text else None


def _first_ready(preferred: Variant, others: Sequence[Variant], ready: Ready) -> Variant:
    if ready(preferred):
        return preferred
    return next((v for v in others if ready(v)), preferred)


@dataclass(frozen=True)
class CanaryPolicy:
    """``weight`` percent of requests to ``canary``, the rest to ``stable``.

    With a segment, only requests whose segment field is one of ``segment_values``
    may go to the canary (at ``weight`` percent); the others stay on stable.
    """

    stable: Variant
    canary: Variant
    weight: float
    salt: str
    key: FieldRef | None = None
    segment_field: FieldRef | None = None
    segment_values: frozenset[str] | None = None
    spec: CanarySpec | None = None
    ready: Ready = field(default=_always_ready, compare=False, repr=False)
    kind: str = "canary"

    @property
    def variants(self) -> tuple[Variant, ...]:
        return (self.stable, self.canary)

    @property
    def reads(self) -> frozenset[str]:
        """Where ``choose`` looks: ``header``, ``parameter``, ``feature``."""
        return frozenset(f.source for f in (self.key, self.segment_field) if f is not None)

    def choose(self, context: RouteContext) -> Decision:
        key = read_field(context, self.key) if self.key is not None else None
        if self.weight <= 0 or (self.segment_field is not None and not self._in_segment(context)):
            chosen = self.stable
        elif self.weight >= 100:
            chosen = self.canary
        else:
            point = bucket(self.salt, key if key is not None else context.request_id)
            chosen = self.canary if point < self.weight else self.stable
        other = self.canary if chosen is self.stable else self.stable
        return Decision(_first_ready(chosen, (other,), self.ready), key=key)

    def _in_segment(self, context: RouteContext) -> bool:
        assert self.segment_field is not None and self.segment_values is not None
        return read_field(context, self.segment_field) in self.segment_values

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.kind,
            "variants": [v.to_dict() for v in self.variants],
            "weights": {"stable": 100.0 - self.weight, "canary": self.weight},
            "segment": None
            if self.segment_field is None
            else {"field": str(self.segment_field), "values": sorted(self.segment_values or ())},
            "key": None if self.key is None else str(self.key),
            "spec": None if self.spec is None else dump_endpoint(self.spec),
        }


@dataclass(frozen=True)
class ABPolicy:
    """Two or more variants, each owning ``weight`` percent of the key space."""

    arms: tuple[Variant, ...]
    weights: tuple[float, ...]
    key: FieldRef
    salt: str
    spec: ABSpec | None = None
    ready: Ready = field(default=_always_ready, compare=False, repr=False)
    kind: str = "ab"
    _bounds: tuple[float, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        running, bounds = 0.0, []
        for weight in self.weights:
            running += weight
            bounds.append(running)
        object.__setattr__(self, "_bounds", tuple(bounds))

    @property
    def variants(self) -> tuple[Variant, ...]:
        return self.arms

    @property
    def reads(self) -> frozenset[str]:
        return frozenset((self.key.source,))

    def assign(self, key: str) -> Variant:
        """The variant a key is assigned to (ignoring readiness)."""
        point = bucket(self.salt, key)
        for variant, bound in zip(self.arms, self._bounds, strict=True):
            if point < bound and bound > 0:
                return variant
        return next(v for v, w in zip(self.arms, self.weights, strict=True) if w > 0)

    def choose(self, context: RouteContext) -> Decision:
        key = read_field(context, self.key)
        chosen = self.assign(key if key is not None else context.request_id)
        return Decision(_first_ready(chosen, self.arms, self.ready), key=key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.kind,
            "variants": [v.to_dict() for v in self.arms],
            "weights": {v.name: w for v, w in zip(self.arms, self.weights, strict=True)},
            "key": str(self.key),
            "salt": self.salt,
            "spec": None if self.spec is None else dump_endpoint(self.spec),
        }


@dataclass(frozen=True)
class ShadowPolicy:
    """``primary`` answers; each shadow is mirrored ``percent`` of requests, after the response."""

    primary: Variant
    shadows: tuple[Variant, ...]
    percents: tuple[float, ...]
    salt: str
    spec: ShadowSpec | None = None
    ready: Ready = field(default=_always_ready, compare=False, repr=False)
    kind: str = "shadow"

    @property
    def variants(self) -> tuple[Variant, ...]:
        return (self.primary, *self.shadows)

    def choose(self, context: RouteContext) -> Decision:
        mirrors = tuple(
            shadow
            for shadow, percent in zip(self.shadows, self.percents, strict=True)
            if (
                percent >= 100 or bucket(f"{self.salt}:{shadow.name}", context.request_id) < percent
            )
            and self.ready(shadow)
        )
        return Decision(self.primary, mirrors)

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.kind,
            "variants": [v.to_dict() for v in self.variants],
            "mirror_percent": {v.name: p for v, p in zip(self.shadows, self.percents, strict=True)},
            "spec": None if self.spec is None else dump_endpoint(self.spec),
        }


@dataclass(frozen=True)
class BlueGreenPolicy:
    """Both versions loaded; the active one takes all traffic, switched at once."""

    blue: Variant
    green: Variant
    active: str  # "blue" | "green"
    spec: BlueGreenSpec | None = None
    ready: Ready = field(default=_always_ready, compare=False, repr=False)
    kind: str = "blue_green"

    @property
    def variants(self) -> tuple[Variant, ...]:
        return (self.blue, self.green)

    def choose(self, context: RouteContext) -> Decision:
        live, standby = (
            (self.blue, self.green) if self.active == "blue" else (self.green, self.blue)
        )
        return Decision(_first_ready(live, (standby,), self.ready))

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.kind,
            "variants": [v.to_dict() for v in self.variants],
            "active": self.active,
            "spec": None if self.spec is None else dump_endpoint(self.spec),
        }


def build_policy(
    endpoint: str,
    spec: EndpointSpec,
    resolved: Mapping[str, Variant],
    *,
    ready: Ready = _always_ready,
) -> Any:
    """The routing policy for ``spec``, over variants already resolved and loaded.

    Args:
        endpoint: the endpoint's name (the default salt).
        spec: the validated spec (``parse_endpoint``).
        resolved: ``{role: Variant}`` for every role of ``spec.references()``.
        ready: whether a variant is loaded and ready now.

    Raises:
        EndpointSpecError: a role of the spec was not resolved.
    """
    missing = sorted(set(spec.references()) - set(resolved))
    if missing:
        raise EndpointSpecError(f"endpoint {endpoint!r}", [f"unresolved variants: {missing}"])
    if isinstance(spec, SingleSpec):
        return SinglePolicy(resolved["default"])
    if isinstance(spec, CanarySpec):
        segment = spec.segment
        return CanaryPolicy(
            stable=resolved["stable"],
            canary=resolved["canary"],
            weight=spec.weight,
            salt=spec.salt or f"{endpoint}:canary",
            key=spec.key,
            segment_field=segment.field if segment else None,
            segment_values=frozenset(segment.values) if segment else None,
            spec=spec,
            ready=ready,
        )
    if isinstance(spec, ABSpec):
        names = [v.name for v in spec.variants]
        return ABPolicy(
            arms=tuple(resolved[n] for n in names),
            weights=tuple(v.weight for v in spec.variants),
            key=spec.key,
            salt=spec.salt or f"{endpoint}:ab:{'/'.join(names)}",
            spec=spec,
            ready=ready,
        )
    if isinstance(spec, ShadowSpec):
        names = spec.shadow_names()
        return ShadowPolicy(
            primary=resolved["primary"],
            shadows=tuple(resolved[n] for n in names),
            percents=tuple(s.percent for s in spec.shadows),
            salt=f"{endpoint}:shadow",
            spec=spec,
            ready=ready,
        )
    return BlueGreenPolicy(resolved["blue"], resolved["green"], spec.active, spec, ready)


def check_fields(
    endpoint: str, spec: EndpointSpec, inputs: Mapping[str, Sequence[str]], *, where: str = ""
) -> None:
    """Refuse a spec that routes (or analyses) on a feature some of its models lack.

    Args:
        inputs: ``{role: input names of that role's model version}``.

    Raises:
        EndpointSpecError: naming the field, the variant and the inputs it has.
    """
    fields = list(spec.fields())
    rollout = getattr(spec, "rollout", None)
    if rollout is not None:
        analyses = [rollout.analysis] + [
            rollout.analysis_for(s) for s in rollout.steps if s.kind == "analysis"
        ]
        fields += [a.segment_by for a in analyses if a.segment_by is not None]
    problems = []
    for ref in dict.fromkeys(f for f in fields if f.source == "feature"):
        for role, names in inputs.items():
            if ref.name not in names:
                problems.append(
                    f"routes on {ref}, but {role} ({spec.references().get(role, role)}) has no "
                    f"input {ref.name!r} (its inputs: {', '.join(list(names)[:20])})"
                )
    if problems:
        raise EndpointSpecError(
            where or f"endpoint {endpoint!r}",
            problems,
            hint="route on a feature every variant takes, or on a header:/parameter: field",
        )
