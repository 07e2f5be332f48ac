"""The gate decides on metrics without a closed-form paired test (R², ROC AUC, F1) too."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from shipyard.evaluation.comparison import bootstrap_pvalue


def test_bootstrap_pvalue_inverts_the_percentile_interval() -> None:
    rng = np.random.default_rng(0)
    shifted = rng.normal(0.8, 0.1, 2000)  # 8 standard errors above 0: no draw below
    assert bootstrap_pvalue(shifted) == pytest.approx(2 / 2001)
    centred = rng.normal(0.0, 0.1, 2000)
    share_below = (np.count_nonzero(centred <= 0) + 1) / 2001
    share_above = (np.count_nonzero(centred >= 0) + 1) / 2001
    assert bootstrap_pvalue(centred) == pytest.approx(2 * min(share_below, share_above))
    assert bootstrap_pvalue(centred) > 0.5


def test_bootstrap_pvalue_agrees_with_a_normal_test_on_a_normal_distribution() -> None:
    rng = np.random.default_rng(1)
    draws = rng.normal(0.2, 0.1, 200_000)  # delta 2 standard errors above 0
    expected = 2 * stats.norm.sf(2.0)
    assert bootstrap_pvalue(draws) == pytest.approx(expected, abs=2e-3)
