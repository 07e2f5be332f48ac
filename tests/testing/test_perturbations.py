from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shipyard.errors import ModelTestError
from shipyard.testing import Add, ChangeCase, Noise, Scale, SetTo, Shuffle
from shipyard.testing.perturbations import as_perturbation, describe


def test_add_keeps_integers_integer_for_a_whole_delta():
    column = pd.Series([1, 2, 3])
    assert Add(1)(column).tolist() == [2, 3, 4]
    assert pd.api.types.is_integer_dtype(Add(1.0)(column))
    assert Add(0.5)(column).tolist() == [1.5, 2.5, 3.5]


def test_scale_and_set_to():
    column = pd.Series([10.0, 20.0], index=[5, 7])
    assert Scale(1.1)(column).tolist() == pytest.approx([11.0, 22.0])
    replaced = SetTo("SG")(column)
    assert replaced.tolist() == ["SG", "SG"] and replaced.index.tolist() == [5, 7]


def test_random_perturbations_are_repeatable_by_seed():
    column = pd.Series(np.arange(50.0))
    assert Shuffle(seed=1)(column).equals(Shuffle(seed=1)(column))
    assert sorted(Shuffle(seed=1)(column)) == column.tolist()
    assert not Shuffle(seed=1)(column).equals(column)
    noisy = Noise(0.5, seed=2)(column)
    assert noisy.equals(Noise(0.5, seed=2)(column))
    assert 0 < (noisy - column).abs().max() < 3


def test_relative_noise_scales_with_the_value():
    column = pd.Series([1.0, 1000.0] * 100)
    moved = (Noise(0.01, relative=True, seed=0)(column) - column).abs()
    assert moved[column == 1000.0].mean() > 100 * moved[column == 1.0].mean()


def test_change_case_only_on_text():
    assert ChangeCase("upper")(pd.Series(["Hanoi", "berlin"])).tolist() == ["HANOI", "BERLIN"]
    with pytest.raises(ModelTestError, match="cannot change the case of column 'n'"):
        ChangeCase("upper")(pd.Series([1, 2], name="n"))


def test_plain_values_mean_set_and_callables_are_kept():
    def double(s: pd.Series) -> pd.Series:
        return s * 2

    assert as_perturbation("SG") == SetTo("SG")
    assert as_perturbation(double) is double
    assert describe(Add(1)) == "Add(delta=1)"
    assert describe(double).endswith("double")
