"""The load benchmark's interleaved mode (``--slice``): how slices are ordered and pooled.

The p99 it reports for a side is the 99th percentile of its slices' latencies pooled,
each slice known to it only by its latency quantiles (every 0.05 percent, from wrk).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "monitoring" / "events_load.py"


@pytest.fixture(scope="module")
def events_load():
    spec = importlib.util.spec_from_file_location("events_load", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["events_load"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("events_load", None)


def test_equal_weights_give_numpys_inverted_cdf_quantile(events_load) -> None:
    rng = np.random.default_rng(3)
    values = rng.lognormal(1.5, 0.6, 10_001)
    for q in (0.01, 0.5, 0.99, 0.999):
        got = events_load.weighted_quantile(values, np.ones(values.size), q)
        assert got == np.quantile(values, q, method="inverted_cdf")


def test_pooled_slices_weigh_by_their_requests(events_load) -> None:
    # one slice of 9,950 requests at 1 ms, one of 50 at 50 ms: the pooled p99 is the
    # last of the fast ones, though each slice's quantile grid has as many points
    fast, slow = np.full(2001, 1.0), np.full(2001, 50.0)
    values = np.concatenate([fast, slow])
    weights = np.concatenate([np.full(2001, 9950 / 2001), np.full(2001, 50 / 2001)])
    assert events_load.weighted_quantile(values, weights, 0.99) == 1.0
    assert events_load.weighted_quantile(values, weights, 0.996) == 50.0
    # with the slices' sizes the other way round, the slow one holds the p99
    weights = weights[::-1]
    assert events_load.weighted_quantile(values, weights, 0.99) == 50.0


def test_pooled_quantile_grids_match_the_pooled_samples(events_load) -> None:
    # two slices of different speed, each reduced to its grid as wrk's done() reports it
    rng = np.random.default_rng(7)
    slices = [rng.gamma(4.0, 1.0, 40_000), rng.gamma(4.0, 1.3, 25_000)]
    grid = np.arange(2001) / 2000
    grids = np.stack([np.quantile(s, grid, method="inverted_cdf") for s in slices])
    requests = np.array([s.size for s in slices], dtype=float)
    pooled = np.concatenate(slices)
    for q in (0.5, 0.99):
        got = events_load.pooled_quantile(grids, requests, q)
        want = np.quantile(pooled, q)
        assert abs(got - want) / want < 0.005  # the grid's resolution, 0.05 percent


@pytest.mark.parametrize("on_first", [False, True])
def test_slices_alternate_abba_with_as_many_each(events_load, on_first: bool) -> None:
    order = events_load.slice_order(6, on_first)
    assert len(order) == 12 and sum(order) == 6
    a, b = on_first, not on_first
    assert order[:8] == [a, b, b, a, a, b, b, a]
    # each side's mean position is the same: a drift linear in time weighs both alike
    positions = np.arange(12)
    assert positions[np.array(order)].mean() == positions[~np.array(order)].mean()


def _runs(grids: list[np.ndarray], requests: list[float], per_round: int) -> list[dict]:
    """Slices as interleaved_pair returns them: ``per_round`` of them in each round."""
    return [
        {"slice_quantiles_ms": grids[i : i + per_round],
         "slice_requests": requests[i : i + per_round]}
        for i in range(0, len(grids), per_round)
    ]  # fmt: skip


def test_pooled_ratio_of_a_side_slower_by_a_fifth_is_that_fifth(events_load) -> None:
    rng = np.random.default_rng(11)
    grid = np.arange(2001) / 2000
    off = [np.quantile(rng.gamma(4.0, s, 5000), grid) for s in rng.uniform(0.8, 1.3, 12)]
    requests = list(rng.integers(20_000, 30_000, 12).astype(float))
    got = events_load.pooled_ratio(
        _runs(off, requests, 6), _runs([g * 1.2 for g in off], requests, 6), resamples=200
    )
    assert got["ratio"] == pytest.approx(1.2, rel=1e-12)
    assert got["low"] == pytest.approx(1.2, rel=1e-12)
    assert got["high"] == pytest.approx(1.2, rel=1e-12)
    assert got["pairs"] == 12


def test_pooled_ratio_pairs_slices_that_share_the_machines_state(events_load) -> None:
    # each moment's speed (shared by the pair's two slices) moves p99 by up to half;
    # the on side is 5% slower at every moment. Pairing keeps the interval near 1.05;
    # the same slices paired across moments give a wide one.
    rng = np.random.default_rng(5)
    grid = np.arange(2001) / 2000
    speeds = rng.uniform(0.7, 1.4, 16)
    off = [np.quantile(rng.gamma(4.0, s, 20_000), grid) for s in speeds]
    on = [np.quantile(rng.gamma(4.0, s * 1.05, 20_000), grid) for s in speeds]
    requests = [20_000.0] * 16
    got = events_load.pooled_ratio(_runs(off, requests, 4), _runs(on, requests, 4), resamples=500)
    assert got["low"] < 1.05 < got["high"]
    assert got["high"] - got["low"] < 0.05
    mismatched = events_load.pooled_ratio(
        _runs(off, requests, 4), _runs(on[::-1], requests, 4), resamples=500
    )
    assert mismatched["high"] - mismatched["low"] > 4 * (got["high"] - got["low"])
    # the point is the pooled samples' p99, as the weighted grids give it
    values = np.concatenate(off)
    direct = events_load.weighted_quantile(values, np.ones(values.size), 0.99)
    assert got["off_ms"] == direct
