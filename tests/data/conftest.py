"""Fixtures for the data tests: a small mixed frame (``project`` is in tests/conftest.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 500
    return pd.DataFrame(
        {
            "area": rng.lognormal(4, 0.5, n),
            "rooms": rng.integers(1, 6, n),
            "region": rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2]),
            "new": rng.random(n) < 0.2,
            "price": rng.normal(300, 50, n),
        }
    )
