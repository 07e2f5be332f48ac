"""compare(): same dataset or refuse; paired deltas, tests and a verdict from the headline."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from shipyard.errors import EvaluationError
from shipyard.evaluation import DatasetMismatchError, Evaluation, compare, evaluate, significance

from .conftest import DIGEST, Case

B = 80


def pair(case: Case, **kwargs: Any) -> tuple[Evaluation, Evaluation]:
    task = "regression" if case.target == "y" else "classification"
    common = {"task": task, "dataset_digest": DIGEST, "n_bootstrap": B, "measure": False, **kwargs}
    return (
        evaluate(case.model, case.frame, case.target, **common),
        evaluate(case.weak, case.frame, case.target, **common),
    )


def test_different_datasets_are_refused(binary_case: Case) -> None:
    strong, weak = pair(binary_case)
    other = dataclasses.replace(weak, dataset_digest="cd" * 32)
    with pytest.raises(DatasetMismatchError, match="same frozen dataset") as caught:
        compare(strong, other)
    assert isinstance(caught.value, EvaluationError) and isinstance(caught.value, ValueError)
    assert caught.value.candidate_digest == DIGEST and caught.value.champion_digest == "cd" * 32


def test_same_digest_with_other_rows_is_refused(regression_case: Case) -> None:
    strong, weak = pair(regression_case)
    fewer = dataclasses.replace(weak, y_true=weak.y_true[:-1], y_pred=weak.y_pred[:-1])
    with pytest.raises(DatasetMismatchError, match="rows differ"):
        compare(strong, fewer)


def test_a_clearly_better_classifier_wins_with_mcnemar(binary_case: Case) -> None:
    strong, weak = pair(binary_case)
    cmp = compare(strong, weak, champion_ref="m:1")
    assert cmp.verdict == "better" and cmp.headline_metric == "accuracy"
    acc = cmp.delta("accuracy")
    expected = significance.compare_paired(
        strong.y_true, strong.y_pred, weak.y_pred, metric="accuracy", n_resamples=B
    )
    assert acc.test == "mcnemar"
    assert (acc.delta, acc.low, acc.high, acc.p_value) == pytest.approx(
        (expected.delta, expected.ci_low, expected.ci_high, expected.pvalue)
    )
    mcnemar = next(t for t in cmp.tests if t.name == "McNemar")
    direct = significance.mcnemar(strong.losses["zero_one"], weak.losses["zero_one"])
    assert mcnemar.p_value == pytest.approx(direct.pvalue) and mcnemar.significant
    assert {t.name for t in cmp.tests} == {"McNemar", "paired t", "Wilcoxon signed-rank"}


def test_reversed_roles_give_worse(binary_case: Case) -> None:
    strong, weak = pair(binary_case)
    cmp = compare(weak, strong)
    assert cmp.verdict == "worse"
    assert cmp.delta("roc_auc").judgement == "worse"
    assert cmp.delta("roc_auc").high < 0


def test_a_model_against_itself_shows_no_difference(regression_case: Case) -> None:
    strong, _ = pair(regression_case)
    cmp = compare(strong, strong)
    assert cmp.verdict == "no significant difference"
    assert all(d.delta == 0 for d in cmp.deltas)


def test_regression_uses_paired_t_on_squared_error(regression_case: Case) -> None:
    strong, weak = pair(regression_case)
    cmp = compare(strong, weak)
    rmse = cmp.delta("rmse")
    assert rmse.test == "t" and rmse.delta < 0 and cmp.verdict == "better"
    t = significance.paired_t_test(strong.losses["squared_error"], weak.losses["squared_error"])
    assert rmse.p_value == pytest.approx(t.pvalue)
    assert cmp.delta("r2").test == "paired bootstrap" and cmp.delta("r2").low > 0
    compares = {(t.name, t.compares.split(" (")[0]) for t in cmp.tests}
    assert ("Wilcoxon signed-rank", "per-row absolute error") in compares


def test_multiclass_comparison_pairs_probabilities(multiclass_case: Case) -> None:
    strong, weak = pair(multiclass_case)
    cmp = compare(strong, weak)
    assert cmp.verdict == "better"
    log_loss = cmp.delta("log_loss")
    assert log_loss.test == "t" and log_loss.delta < 0 and log_loss.judgement == "better"
    assert cmp.delta("roc_auc").low is not None and cmp.delta("f1").low is not None


def test_comparison_survives_json(binary_case: Case) -> None:
    strong, weak = pair(binary_case)
    cmp = compare(Evaluation.from_dict(strong.to_dict()), Evaluation.from_dict(weak.to_dict()))
    direct = compare(strong, weak)
    assert [d.delta for d in cmp.deltas] == pytest.approx([d.delta for d in direct.deltas])
    assert cmp.verdict == direct.verdict
    assert np.isfinite([t.p_value for t in cmp.tests]).all()
