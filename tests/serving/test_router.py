"""Routing: the policy seam, and how a URL name finds the version that answers."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from shipyard.serving.errors import ModelNotFound
from shipyard.serving.router import Decision, RouteContext, Router, SinglePolicy, Variant

V1 = Variant("default", "housing@champion", "housing", 1)
V2 = Variant("candidate", "housing:2", "housing", 2)


def test_single_policy_sends_everything_to_its_variant() -> None:
    router = Router()
    router.assign("housing", SinglePolicy(V1))
    assert router.route("housing", RouteContext("r1")) == Decision(V1)
    assert router.in_use() == {("housing", 1)}
    assert router.default_endpoint == "housing"


def test_a_policy_is_any_object_with_choose_and_variants() -> None:
    @dataclass(frozen=True)
    class HeaderPolicy:  # e.g. what a rollout policy looks like from the router's side
        kind: str = "by-header"

        @property
        def variants(self) -> tuple[Variant, ...]:
            return (V1, V2)

        def choose(self, context: RouteContext) -> Decision:
            if context.headers.get("x-cohort") == "beta":
                return Decision(V2)
            return Decision(V1, mirrors=(V2,))

        def to_dict(self) -> dict[str, object]:
            return {"policy": self.kind}

    router = Router()
    old = router.assign("housing", SinglePolicy(V1))
    assert old is None
    assert router.assign("housing", HeaderPolicy()) == SinglePolicy(V1)
    assert router.route("housing", RouteContext("r", {"x-cohort": "beta"})).variant == V2
    assert router.route("housing", RouteContext("r")).mirrors == (V2,)
    assert router.in_use() == {("housing", 1), ("housing", 2)}


def test_unknown_endpoint_is_not_found() -> None:
    router = Router()
    with pytest.raises(ModelNotFound):
        router.route("nope", RouteContext("r"))
    with pytest.raises(ModelNotFound):
        router.remove("nope")
