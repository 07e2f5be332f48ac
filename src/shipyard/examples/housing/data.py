"""Synthetic house prices with documented relationships, reproducible from a seed.

Relationships (all else equal):
- price rises with living area ``sqft`` (about 160 per square foot at 1,500 sqft,
  with diminishing returns: the area effect grows with sqft**0.9);
- each bathroom adds about 14,000 and each bedroom about 4,000;
- price falls with ``age``: about 900 a year, faster past 40 years;
- ``lot_size`` (square feet) adds about 2 per square foot;
- ``condition`` (1 poor .. 5 excellent) adds about 9,000 a step;
- ``region`` multiplies the whole: VN 0.45, DE 1.15, US 1.0, SG 1.7;
- noise is multiplicative, normal with a 6% standard deviation.

``bathrooms_effect=-1`` reverses the bathrooms effect (the deliberately broken
training data of the quickstart); ``shift`` moves the distribution for drift demos.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

REGIONS: dict[str, float] = {"VN": 0.45, "SG": 1.7, "US": 1.0, "DE": 1.15}
FEATURES = ["sqft", "bedrooms", "bathrooms", "age", "lot_size", "region", "condition"]
TARGET = "price"


@dataclass(frozen=True)
class Shift:
    """A change of the world, for drift: a region's prices jump, houses get larger."""

    region: str | None = None
    region_factor: float = 1.0
    sqft_factor: float = 1.0


def generate(
    rows: int = 5000,
    seed: int = 0,
    *,
    bathrooms_effect: float = 1.0,
    shift: Shift | None = None,
) -> pd.DataFrame:
    """Generate ``rows`` houses with a ``price`` column.

    Args:
        rows: how many houses.
        seed: the random seed; the same seed gives the same frame.
        bathrooms_effect: 1.0 for the documented effect, -1.0 to reverse it.
        shift: an optional distribution shift (see ``Shift``).
    """
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    rng = np.random.default_rng(seed)
    shift = shift or Shift()
    region = rng.choice(list(REGIONS), size=rows, p=[0.3, 0.15, 0.35, 0.2])
    sqft = np.clip(rng.lognormal(np.log(1500), 0.35, rows), 350, 6000) * shift.sqft_factor
    bedrooms = np.clip(np.round(sqft / 550 + rng.normal(0, 0.7, rows)), 1, 7).astype(np.int64)
    bathrooms = np.clip(np.round(bedrooms * 0.6 + rng.normal(0.3, 0.6, rows)), 1, 5).astype(
        np.int64
    )
    age = np.clip(rng.gamma(2.0, 14.0, rows), 0, 120).round(0).astype(np.int64)
    lot_size = np.clip(rng.lognormal(np.log(5000), 0.5, rows), 800, 60000).round(0)
    condition = rng.integers(1, 6, rows).astype(np.int64)

    factor = np.array([REGIONS[r] for r in region])
    if shift.region is not None:
        factor = np.where(region == shift.region, factor * shift.region_factor, factor)
    value = (
        160 * 1500**0.1 * sqft**0.9
        + bathrooms_effect * 14_000 * bathrooms
        + 4_000 * bedrooms
        - 900 * age
        - 1_500 * np.maximum(age - 40, 0)
        + 2.0 * lot_size
        + 9_000 * condition
        + 40_000
    )
    price = np.maximum(value, 20_000) * factor * rng.normal(1.0, 0.06, rows)
    return pd.DataFrame(
        {
            "sqft": sqft.round(0),
            "bedrooms": bedrooms,
            "bathrooms": bathrooms,
            "age": age,
            "lot_size": lot_size,
            "region": region.astype(object),
            "condition": condition,
            TARGET: price.round(2),
        }
    )
