"""Routing policies: one contract for all; shares, stickiness, segments, readiness, mirrors."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from rollout_helpers import variant
from scipy import stats

from shipyard.rollout.policies import (
    ABPolicy,
    BlueGreenPolicy,
    CanaryPolicy,
    ShadowPolicy,
    bucket,
    build_policy,
    check_fields,
)
from shipyard.rollout.routing import RouteContext, SinglePolicy
from shipyard.rollout.spec import EndpointSpecError, FieldRef, parse_endpoint

N = 10_000
USER = FieldRef(source="header", name="x-user-id")


def _ctx(i: int, **headers: str) -> RouteContext:
    return RouteContext(f"req-{i}", headers)


def _policies() -> list:
    stable, canary = variant("stable", 1), variant("canary", 2)
    return [
        SinglePolicy(variant("default", 1)),
        CanaryPolicy(stable, canary, 20.0, "s", key=USER),
        ABPolicy((variant("a", 1), variant("b", 2), variant("c", 3)), (50, 30, 20), USER, "s"),
        ShadowPolicy(stable, (variant("shadow", 2),), (50.0,), "s"),
        BlueGreenPolicy(variant("blue", 1), variant("green", 2), "green"),
    ]


@pytest.mark.parametrize("policy", _policies(), ids=lambda p: p.kind)
def test_every_policy_keeps_the_routing_contract(policy) -> None:
    names = {v.name for v in policy.variants}
    for i in range(200):
        decision = policy.choose(_ctx(i, **{"x-user-id": f"u{i % 37}"}))
        assert decision.variant in policy.variants
        assert {m.name for m in decision.mirrors} <= names - {decision.variant.name}
    described = policy.to_dict()
    assert described["policy"] == policy.kind
    assert json.loads(json.dumps(described)) == described  # plain JSON for the management API


def _chi2_pvalue(counts: list[int], weights: list[float]) -> float:
    total = sum(counts)
    expected = [total * w / sum(weights) for w in weights]
    return float(stats.chisquare(counts, f_exp=expected).pvalue)


@pytest.mark.parametrize("weight", [5.0, 20.0, 50.0])
def test_canary_sends_configured_share_to_candidate(weight: float) -> None:
    policy = CanaryPolicy(variant("stable", 1), variant("canary", 2), weight, "exp-1")
    seen = Counter(policy.choose(_ctx(i)).variant.name for i in range(N))
    # a two-sided binomial test of the canary's count against the configured share
    test = stats.binomtest(seen["canary"], N, weight / 100)
    assert test.pvalue > 0.001, (seen, weight)


def test_ab_shares_follow_weights_over_ten_thousand_users() -> None:
    arms = (variant("a", 1), variant("b", 2), variant("c", 3))
    policy = ABPolicy(arms, (50.0, 30.0, 20.0), USER, "exp-2")
    seen = Counter(
        policy.choose(_ctx(i, **{"x-user-id": f"user-{i}"})).variant.name for i in range(N)
    )
    assert _chi2_pvalue([seen["a"], seen["b"], seen["c"]], [50, 30, 20]) > 0.001, seen


def test_ab_assignment_is_sticky_for_every_key() -> None:
    policy = ABPolicy((variant("a", 1), variant("b", 2)), (50.0, 50.0), USER, "exp-3")
    first = {}
    for i in range(N):
        user = f"user-{i % 1000}"
        got = policy.choose(_ctx(i, **{"x-user-id": user}))
        assert got.key == user
        assert first.setdefault(user, got.variant.name) == got.variant.name


def test_a_new_salt_reshuffles_users() -> None:
    a = ABPolicy((variant("a", 1), variant("b", 2)), (50.0, 50.0), USER, "exp-A")
    b = ABPolicy((variant("a", 1), variant("b", 2)), (50.0, 50.0), USER, "exp-B")
    moved = sum(a.assign(f"u{i}") != b.assign(f"u{i}") for i in range(2000))
    assert stats.binomtest(moved, 2000, 0.5).pvalue > 0.001


def test_raising_canary_weight_keeps_users_already_on_the_canary() -> None:
    stable, canary = variant("stable", 1), variant("canary", 2)
    users = [f"user-{i}" for i in range(3000)]
    on = {}
    for weight in (5.0, 25.0, 50.0, 100.0):
        policy = CanaryPolicy(stable, canary, weight, "ramp", key=USER)
        now = {u for u in users if policy.choose(_ctx(0, **{"x-user-id": u})).variant is canary}
        assert set(on.get("prev", set())) <= now
        on["prev"] = now
    assert len(on["prev"]) == len(users)


def test_segment_rule_sends_only_matching_requests_to_the_canary() -> None:
    spec = parse_endpoint(
        "housing",
        {
            "strategy": "canary", "stable": "housing:1", "canary": "housing:2", "weight": 100,
            "segment": {"field": "feature:region", "values": ["VN"]},
        },
    )  # fmt: skip
    policy = build_policy(
        "housing", spec, {"stable": variant("stable", 1), "canary": variant("canary", 2)}
    )
    for region, expected in (("VN", "canary"), ("TH", "stable"), (None, "stable")):
        features = {"region": region}
        ctx = RouteContext("r", {}, {}, features.get)
        assert policy.choose(ctx).variant.name == expected
    # by a parameter of the inference protocol, too
    spec = parse_endpoint(
        "housing",
        {
            "strategy": "canary", "stable": "housing:1", "canary": "housing:2", "weight": 100,
            "segment": {"field": "parameter:region", "values": ["VN", "TH"]},
        },
    )  # fmt: skip
    policy = build_policy(
        "housing", spec, {"stable": variant("stable", 1), "canary": variant("canary", 2)}
    )
    assert policy.choose(RouteContext("r", {}, {"region": "TH"})).variant.name == "canary"
    assert policy.choose(RouteContext("r", {}, {"region": "ID"})).variant.name == "stable"


def test_no_request_goes_to_a_variant_that_is_not_ready() -> None:
    stable, canary = variant("stable", 1), variant("canary", 2)
    ready = {stable.label}
    policy = CanaryPolicy(stable, canary, 100.0, "s", ready=lambda v: v.label in ready)
    assert all(policy.choose(_ctx(i)).variant is stable for i in range(100))
    arms = (variant("a", 1), variant("b", 2))
    ab = ABPolicy(arms, (50.0, 50.0), USER, "s", ready=lambda v: v.name == "a")
    assert {ab.choose(_ctx(i, **{"x-user-id": f"u{i}"})).variant.name for i in range(200)} == {"a"}
    shadow = ShadowPolicy(stable, (canary,), (100.0,), "s", ready=lambda v: v is stable)
    assert shadow.choose(_ctx(1)).mirrors == ()
    bg = BlueGreenPolicy(
        variant("blue", 1), variant("green", 2), "green", ready=lambda v: v.name == "blue"
    )
    assert bg.choose(_ctx(1)).variant.name == "blue"


def test_shadow_mirrors_the_configured_percent_and_never_answers() -> None:
    primary, shadow = variant("primary", 1), variant("shadow", 2)
    policy = ShadowPolicy(primary, (shadow,), (30.0,), "s")
    decisions = [policy.choose(_ctx(i)) for i in range(N)]
    assert all(d.variant is primary for d in decisions)
    mirrored = sum(bool(d.mirrors) for d in decisions)
    assert stats.binomtest(mirrored, N, 0.3).pvalue > 0.001


def test_blue_green_switches_everything_at_once() -> None:
    blue, green = variant("blue", 1), variant("green", 2)
    for active, expected in (("blue", blue), ("green", green)):
        policy = BlueGreenPolicy(blue, green, active)
        assert {policy.choose(_ctx(i)).variant for i in range(100)} == {expected}


def test_bucket_is_uniform_and_stable() -> None:
    points = [bucket("salt", f"k{i}") for i in range(N)]
    assert all(0 <= p < 100 for p in points)
    assert stats.kstest([p / 100 for p in points], "uniform").pvalue > 0.001
    assert bucket("salt", "k1") == bucket("salt", "k1") != bucket("pepper", "k1")


def test_a_segment_on_a_feature_the_model_lacks_is_refused() -> None:
    spec = parse_endpoint(
        "housing",
        {
            "strategy": "canary", "stable": "housing:1", "canary": "housing:2",
            "segment": {"field": "feature:country", "values": ["VN"]},
        },
    )  # fmt: skip
    inputs = {"stable": ["rooms", "area", "region"], "canary": ["rooms", "area", "region"]}
    with pytest.raises(EndpointSpecError, match="no input 'country'"):
        check_fields("housing", spec, inputs)
    ok = parse_endpoint(
        "housing",
        {
            "strategy": "canary", "stable": "housing:1", "canary": "housing:2",
            "segment": {"field": "feature:region", "values": ["VN"]},
        },
    )  # fmt: skip
    check_fields("housing", ok, inputs)
