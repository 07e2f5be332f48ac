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
    values = np.concatenate([np.quantile(s, grid, method="inverted_cdf") for s in slices])
    weights = np.concatenate([np.full(2001, s.size / 2001) for s in slices])
    pooled = np.concatenate(slices)
    for q in (0.5, 0.99):
        got = events_load.weighted_quantile(values, weights, q)
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
