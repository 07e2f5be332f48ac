"""The A/B report: unit-level estimates and tests match scipy; SRM and stickiness are checked."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from shipyard.rollout.analysis import Observation
from shipyard.rollout.experiment import experiment_report
from shipyard.rollout.policies import ABPolicy
from shipyard.rollout.routing import RouteContext, Variant
from shipyard.rollout.spec import FieldRef

ARMS = (Variant("a", "m:1", "m", 1), Variant("b", "m:2", "m", 2))
POLICY = ABPolicy(ARMS, (50.0, 50.0), FieldRef(source="header", name="x-user-id"), "exp")


def _experiment(
    rates: dict[str, float], users: int = 4000, seed: int = 0, requests_per_user: int = 2
):
    rng = np.random.default_rng(seed)
    obs, outcomes = [], {}
    for u in range(users):
        user = f"user-{u}"
        for r in range(requests_per_user):
            d = POLICY.choose(RouteContext(f"{u}-{r}", {"x-user-id": user}))
            rid = f"{u}-{r}"
            obs.append(Observation(rid, 1000.0 + u + r / 10, d.variant.name, 1.0, key=d.key,
                                   outputs={"p": [0.5]}))  # fmt: skip
            outcomes[rid] = float(rng.random() < rates[d.variant.name] / requests_per_user)
    return obs, outcomes


def _unit_values(obs, outcomes, variant):
    units: dict[str, float] = {}
    for o in obs:
        if o.variant == variant:
            units[o.key] = max(units.get(o.key, 0.0), outcomes[o.request_id])
    return np.array(list(units.values()))


def test_binary_outcomes_are_folded_per_user_and_tested_like_scipy() -> None:
    obs, outcomes = _experiment({"a": 0.10, "b": 0.16})
    report = experiment_report("e", obs, outcomes, {"a": 50, "b": 50}, kind="conversion")
    assert report.binary and report.sticky_violations == 0 and report.keyless_requests == 0
    a, b = _unit_values(obs, outcomes, "a"), _unit_values(obs, outcomes, "b")
    va, vb = report.variants
    assert (va.units, vb.units) == (a.size, b.size)
    assert va.estimate == pytest.approx(a.mean(), abs=1e-12)
    ci = stats.binomtest(int(a.sum()), a.size).proportion_ci(method="wilson")
    assert (va.ci_low, va.ci_high) == pytest.approx((ci.low, ci.high), abs=1e-9)
    (cmp,) = report.comparisons
    chi2 = stats.chi2_contingency(
        [[a.sum(), a.size - a.sum()], [b.sum(), b.size - b.sum()]], correction=False
    )
    assert cmp.pvalue == pytest.approx(chi2.pvalue, rel=1e-9)
    assert cmp.difference == pytest.approx(b.mean() - a.mean(), abs=1e-12)
    assert cmp.significant and cmp.msprt_pvalue < 0.05
    assert report.decision.startswith("stop: b beats a")
    assert report.srm_pvalue is not None and not report.srm_mismatch


def test_continuous_outcomes_use_welch_like_scipy() -> None:
    rng = np.random.default_rng(3)
    obs, outcomes = [], {}
    for u in range(600):
        d = POLICY.choose(RouteContext(str(u), {"x-user-id": f"u{u}"}))
        obs.append(Observation(str(u), 1000.0 + u, d.variant.name, 1.0, key=d.key))
        outcomes[str(u)] = float(rng.normal(10.0 if d.variant.name == "a" else 10.2, 3.0))
    report = experiment_report("e", obs, outcomes, {"a": 50, "b": 50}, kind="revenue")
    a = np.array([outcomes[o.request_id] for o in obs if o.variant == "a"])
    b = np.array([outcomes[o.request_id] for o in obs if o.variant == "b"])
    (cmp,) = report.comparisons
    ref = stats.ttest_ind(b, a, equal_var=False)
    assert cmp.test == "welch-t" and cmp.pvalue == pytest.approx(ref.pvalue, rel=1e-9)
    assert not report.binary and report.decision.startswith("keep running")


def test_a_sample_ratio_mismatch_invalidates_the_result() -> None:
    obs, outcomes = _experiment({"a": 0.10, "b": 0.16})
    # logging lost every event of a tenth of b's users
    kept = [o for o in obs if o.variant == "a" or int(o.key.split("-")[1]) % 10]
    report = experiment_report("e", kept, outcomes, {"a": 50, "b": 50})
    assert report.srm_mismatch and report.decision.startswith("invalid: sample ratio mismatch")


def test_units_on_two_variants_and_keyless_requests_are_reported() -> None:
    obs = [
        Observation("1", 1.0, "a", 1.0, key="u1"),
        Observation("2", 2.0, "b", 1.0, key="u1"),
        Observation("3", 3.0, "b", 1.0, key=None),
    ]
    report = experiment_report("e", obs, {"1": 1.0, "2": 0.0, "3": 1.0}, {"a": 50, "b": 50})
    assert report.sticky_violations == 1 and report.keyless_requests == 1
    assert any("not sticky" in n for n in report.notes)
    assert report.to_dict()["variants"][0]["units"] == 1
