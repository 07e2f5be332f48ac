"""Running behavioral tests against anything that predicts a DataFrame, and their results.

Path: ``run_suite`` -> predict the suite's rows once -> each test predicts its
perturbed rows (or its cases) in one batch -> ``TestResult`` with failing examples,
worst first.

Example::

    suite = Suite("housing", (
        Directional("more-bathrooms", "bathrooms", 1, expect="not_decrease"),
        Invariance("lot-noise", {"lot_size": Noise(1.0)}, tolerance=0.02, relative=True),
    ), data=rows)
    report = run_suite(suite, model)   # model.predict_frame(df) or model.predict(df)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from shipyard.errors import ModelTestError
from shipyard.testing.examples import plain, prediction_at, row_dicts
from shipyard.testing.suite import (
    BehavioralTest,
    Case,
    DataSource,
    Directional,
    Invariance,
    MinimumFunctionality,
    PerturbationTest,
    RegressionCases,
    Suite,
    read_table,
)

PredictFrame = Callable[[pd.DataFrame], Any]


# ---------------------------------------------------------------- results
@dataclass(frozen=True)
class TestResult:
    """One test's outcome: how many rows or cases it checked, and those that failed."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    name: str
    kind: str
    passed: bool
    n_checked: int
    n_failed: int
    max_failure_rate: float
    description: str
    failing_examples: tuple[dict[str, Any], ...] = ()
    error: str | None = None

    @property
    def failure_rate(self) -> float:
        return self.n_failed / self.n_checked if self.n_checked else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "passed": self.passed,
            "n_checked": self.n_checked,
            "n_failed": self.n_failed,
            "failure_rate": self.failure_rate,
            "max_failure_rate": self.max_failure_rate,
            "description": self.description,
            "failing_examples": [plain(e) for e in self.failing_examples],
            "error": self.error,
        }


@dataclass(frozen=True)
class SuiteReport:
    """The results of one suite against one model."""

    name: str
    results: tuple[TestResult, ...]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[TestResult]:
        return [r for r in self.results if not r.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "n_tests": len(self.results),
            "n_failed": len(self.failed),
            "results": [r.to_dict() for r in self.results],
        }


# ---------------------------------------------------------------- running
def frame_predictor(model: Any) -> PredictFrame:
    """The model's DataFrame prediction: ``predict_frame`` (a bundle) or ``predict``."""
    for method in ("predict_frame", "predict"):
        if callable(getattr(model, method, None)):
            return getattr(model, method)  # type: ignore[no-any-return]
    raise ModelTestError(
        f"a {type(model).__name__} cannot be tested: it has no predict_frame or predict",
        hint="pass a loaded bundle or a fitted estimator that predicts a DataFrame",
    )


def load_rows(source: pd.DataFrame | DataSource | None) -> pd.DataFrame:
    """A suite's own rows: its frame, or its file. Datasets need a project (``runner``)."""
    if isinstance(source, pd.DataFrame):
        return source
    if source is not None and source.file is not None:
        return read_table(source.file)
    raise ModelTestError(
        "the suite perturbs rows but has none here",
        hint="declare data: {file: rows.csv} in the suite, pass the rows, or test a "
        "registered version (its evaluation dataset or input example is used)",
    )


def select_rows(frame: pd.DataFrame, source: pd.DataFrame | DataSource | None) -> pd.DataFrame:
    """The rows of ``frame`` that the source's ``where`` keeps, ``sample`` of them drawn."""
    if isinstance(source, DataSource):
        if source.where:
            frame = frame[_mask(frame, source.where, "the suite's data")]
        if source.sample is not None and source.sample < len(frame):
            frame = frame.sample(n=source.sample, random_state=source.seed)
    return frame.reset_index(drop=True)


def needs_rows(suite: Suite) -> bool:
    """Whether any test of the suite perturbs rows (case tests bring their own)."""
    return any(isinstance(t, PerturbationTest) for t in suite.tests)


def run_suite(
    suite: Suite, model: Any, rows: pd.DataFrame | None = None, *, max_examples: int = 10
) -> SuiteReport:
    """Run every test of ``suite`` against ``model``.

    Args:
        rows: the frame to draw perturbed rows from, instead of the suite's own; the
            suite's ``where`` and ``sample`` apply to it either way.
        max_examples: failing examples kept per test, worst first.
    """
    selected = None
    if needs_rows(suite):
        selected = select_rows(rows if rows is not None else load_rows(suite.data), suite.data)
    base = None
    results = []
    for test in suite.tests:
        if selected is not None and base is None and isinstance(test, PerturbationTest):
            base = predict_rows(model, selected)
        results.append(run_test(test, model, selected, base=base, max_examples=max_examples))
    return SuiteReport(suite.name, tuple(results))


def predict_rows(model: Any, rows: pd.DataFrame) -> np.ndarray:
    """Predictions for ``rows`` as an array, one entry (or row of outputs) per row."""
    predictions = np.asarray(frame_predictor(model)(rows))
    if predictions.ndim == 0 or predictions.shape[0] != len(rows):
        raise ModelTestError(
            f"the model returned predictions of shape {predictions.shape} for {len(rows)} rows",
            hint="predict_frame must return one prediction per row",
        )
    return predictions


def run_test(
    test: BehavioralTest,
    model: Any,
    rows: pd.DataFrame | None = None,
    *,
    base: np.ndarray | None = None,
    max_examples: int = 10,
) -> TestResult:
    """Run one test. An error while running is a failed result naming it, not a raise.

    One broken test (a missing column, a model that rejects a perturbed value) must not
    hide the results of the others, as in pytest.

    Args:
        rows: the rows perturbation tests start from (not used by case tests).
        base: ``predict_rows(model, rows)`` when already computed, to predict it once.
        max_examples: how many failing examples to keep, worst first.
    """
    try:
        if isinstance(test, PerturbationTest):
            if rows is None:
                raise ModelTestError(f"test '{test.name}' perturbs rows but was given none")
            if base is None:
                base = predict_rows(model, rows)
            return _run_perturbation(test, model, rows, base, max_examples)
        return _run_cases(test, model, max_examples)
    except Exception as exc:
        return TestResult(
            name=test.name,
            kind=test.kind,
            passed=False,
            n_checked=0,
            n_failed=0,
            max_failure_rate=test.max_failure_rate,
            description=test.description,
            error=f"{type(exc).__name__}: {exc}",
        )


def _run_perturbation(
    test: Invariance | Directional,
    model: Any,
    rows: pd.DataFrame,
    base: np.ndarray,
    max_examples: int,
) -> TestResult:
    positions = np.flatnonzero(_mask(rows, test.where, f"test '{test.name}'"))
    if not len(positions):
        return _result(test, 0, 0, ())
    before_rows = rows.iloc[positions]
    after_rows = before_rows.copy()
    for column, perturbation in test.perturb.items():
        if column not in rows.columns:
            raise ModelTestError(
                f"test '{test.name}' changes column '{column}', which the rows lack "
                f"(columns: {', '.join(map(str, rows.columns))})",
                hint="name one of the model's input columns",
            )
        after_rows[column] = perturbation(after_rows[column])
    before = base[positions]
    after = predict_rows(model, after_rows)
    if isinstance(test, Invariance):
        failed, severity = _invariance_failures(before, after, test)
    else:
        before, after = _one_output(before, test), _one_output(after, test)
        failed, severity = _directional_failures(before, after, test)
    worst = _worst(failed, severity, max_examples)
    inputs = row_dicts(before_rows, worst)
    examples = []
    for i, row in zip(worst, inputs, strict=True):
        changed = {c: plain(after_rows[c].iloc[i]) for c in test.perturb}
        example = {
            "inputs": row,
            "changed": changed,
            "before": prediction_at(before, i),
            "after": prediction_at(after, i),
        }
        if np.issubdtype(after.dtype, np.number):
            example["change"] = plain(np.max(np.asarray(after[i] - before[i], dtype=float)))
        examples.append(example)
    return _result(test, len(positions), int(failed.sum()), tuple(examples))


def _invariance_failures(
    before: np.ndarray, after: np.ndarray, test: Invariance
) -> tuple[np.ndarray, np.ndarray]:
    if not (_numeric(before) and _numeric(after)):
        differs = before != after
        differs = differs.reshape(len(before), -1).any(axis=1)
        return differs, differs.astype(float)
    before, after = before.astype(float), after.astype(float)
    bound = test.tolerance * np.abs(before) if test.relative else test.tolerance
    excess = (np.abs(after - before) - bound).reshape(len(before), -1)
    excess = np.where(np.isfinite(excess), excess, np.inf).max(axis=1)
    return excess > 0, excess


def _directional_failures(
    before: np.ndarray, after: np.ndarray, test: Directional
) -> tuple[np.ndarray, np.ndarray]:
    move = after - before
    bound = test.tolerance * np.abs(before) if test.relative else np.full(len(move), test.tolerance)
    severity = {
        "increase": bound - move,
        "decrease": move + bound,
        "not_decrease": -bound - move,
        "not_increase": move - bound,
    }[test.expect]
    strict = test.expect in ("increase", "decrease")
    failed = severity >= 0 if strict else severity > 0
    broken = ~np.isfinite(move)
    return failed | broken, np.where(broken, np.inf, severity)


def _one_output(predictions: np.ndarray, test: Directional) -> np.ndarray:
    if not _numeric(predictions):
        raise ModelTestError(
            f"directional test '{test.name}' needs numeric predictions; the model returns "
            f"{predictions.dtype} labels",
            hint="test a model that outputs scores or probabilities",
        )
    flat = predictions.reshape(len(predictions), -1)
    if flat.shape[1] == 1:
        return flat[:, 0].astype(float)
    if test.output is None or not 0 <= test.output < flat.shape[1]:
        raise ModelTestError(
            f"directional test '{test.name}': the model has {flat.shape[1]} outputs "
            f"and output is {test.output}",
            hint=f"set output to the index (0..{flat.shape[1] - 1}) of the one to check",
        )
    return flat[:, test.output].astype(float)


def _run_cases(
    test: MinimumFunctionality | RegressionCases, model: Any, max_examples: int
) -> TestResult:
    cases: tuple[Case, ...] = tuple(test.cases)
    predictions = predict_rows(model, pd.DataFrame([dict(c.inputs) for c in cases]))
    severity = np.array([_case_miss(c, predictions[i], test) for i, c in enumerate(cases)])
    failed = severity > 0
    worst = _worst(failed, severity, max_examples)
    examples = []
    for i in worst:
        case = cases[i]
        answer = {"range": list(case.range)} if case.range else {"expected": plain(case.expected)}
        examples.append(
            {"inputs": plain(case.inputs), "prediction": prediction_at(predictions, i), **answer}
        )
    return _result(test, len(cases), int(failed.sum()), tuple(examples))


def _case_miss(case: Case, prediction: Any, test: MinimumFunctionality | RegressionCases) -> float:
    """How far a prediction misses its case: > 0 is a failure."""
    value = np.asarray(prediction)
    if case.range is not None:
        if not _numeric(value):
            return np.inf
        low, high = case.range
        value = value.astype(float)
        miss = np.max(np.maximum(low - value, value - high))
        return float(miss) if np.isfinite(miss) else np.inf
    expected = np.asarray(case.expected)
    if _numeric(value) and _numeric(expected) and value.shape == expected.shape:
        value, expected = value.astype(float), expected.astype(float)
        bound = test.tolerance * np.abs(expected) if test.relative else test.tolerance
        miss = np.max(np.abs(value - expected) - bound)
        if not np.isfinite(miss):
            return np.inf
        return float(miss) if miss > 0 else 0.0
    same = np.array_equal(value, expected) or str(plain(prediction)) == str(plain(case.expected))
    return 0.0 if same else 1.0


def _result(
    test: BehavioralTest, n_checked: int, n_failed: int, examples: tuple[dict[str, Any], ...]
) -> TestResult:
    error = None
    if n_checked == 0:
        error = "no rows to check: the test's where selects none of the suite's rows"
    rate = n_failed / n_checked if n_checked else 1.0
    return TestResult(
        name=test.name,
        kind=test.kind,
        passed=n_checked > 0 and rate <= test.max_failure_rate,
        n_checked=n_checked,
        n_failed=n_failed,
        max_failure_rate=test.max_failure_rate,
        description=test.description,
        failing_examples=examples,
        error=error,
    )


def _worst(failed: np.ndarray, severity: np.ndarray, count: int) -> list[int]:
    """Positions of the failed entries, most severe first."""
    order = np.argsort(-severity, kind="stable")
    return [int(i) for i in order[failed[order]][:count]]


def _mask(rows: pd.DataFrame, where: str | None, owner: str) -> np.ndarray:
    if not where:
        return np.ones(len(rows), dtype=bool)
    try:
        mask = rows.eval(where)
    except Exception as exc:
        raise ModelTestError(
            f"{owner}: where {where!r} cannot be evaluated ({type(exc).__name__}: {exc})",
            hint='write a pandas query over the row columns, e.g. "bathrooms >= 2"',
        ) from None
    if not isinstance(mask, pd.Series) or not pd.api.types.is_bool_dtype(mask):
        raise ModelTestError(
            f"{owner}: where {where!r} is not a true/false condition",
            hint="write a comparison, e.g. \"region == 'VN'\"",
        )
    return mask.to_numpy(dtype=bool)


def _numeric(values: np.ndarray) -> bool:
    return bool(np.issubdtype(values.dtype, np.number) or values.dtype == bool)
