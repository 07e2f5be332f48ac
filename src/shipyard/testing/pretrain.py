"""Pre-train suites: run cheap checks first and stop an expensive training run that would fail.

A ``PretrainSuite`` is a tuple of zero-argument checks, each returning a ``CheckResult``
(from ``learning``: output shape, can overfit, loss decreases; from ``leakage``: label
leakage, shared rows; or ``check_schema``). ``run`` raises ``PretrainCheckFailed`` naming
every failing check and its examples, so a pipeline step calls it before it trains.

Example::

    PretrainSuite.standard(train, "price", test=test, estimator_factory=make_model).run()
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pandas as pd

from shipyard.testing.checks import CheckResult, PretrainCheckFailed, PretrainReport
from shipyard.testing.leakage import check_label_leakage, check_no_shared_rows
from shipyard.testing.learning import check_can_overfit, check_output_shape

Check = Callable[[], CheckResult]


@dataclass(frozen=True)
class PretrainSuite:
    """Checks to run before training, in order."""

    checks: tuple[Check, ...]

    def run(self, *, raise_on_failure: bool = True) -> PretrainReport:
        """Run every check (a failing one does not stop the rest).

        Raises:
            PretrainCheckFailed: when any check fails and ``raise_on_failure``.
        """
        report = PretrainReport(tuple(check() for check in self.checks))
        if raise_on_failure and not report.passed:
            raise PretrainCheckFailed(report)
        return report

    @classmethod
    def standard(
        cls,
        train: pd.DataFrame,
        target: str,
        *,
        test: pd.DataFrame | None = None,
        estimator_factory: Callable[[], Any] | None = None,
        schema: Any = None,
        leakage_threshold: float = 0.98,
        overfit_rows: int = 32,
        overfit_threshold: float | None = None,
        seed: int = 0,
    ) -> PretrainSuite:
        """The usual checks for a tabular training set.

        Schema (when given), label leakage on ``train``, shared rows with ``test`` (when
        given), and with an ``estimator_factory``: output shape on a small sample, and
        whether a fresh estimator can overfit ``overfit_rows`` rows.
        """
        checks: list[Check] = []
        if schema is not None:
            checks.append(partial(check_schema, train, schema))
        checks.append(
            partial(check_label_leakage, train, target, threshold=leakage_threshold, seed=seed)
        )
        if test is not None:
            checks.append(partial(check_no_shared_rows, train, test))
        if estimator_factory is not None:
            small = train.sample(n=min(overfit_rows, len(train)), random_state=seed)
            X_small, y_small = small.drop(columns=[target]), small[target]
            checks.append(partial(check_output_shape, estimator_factory, X_small, y_small))
            checks.append(
                partial(
                    check_can_overfit,
                    estimator_factory,
                    X_small,
                    y_small,
                    threshold=overfit_threshold,
                )
            )
        return cls(tuple(checks))


def check_schema(frame: pd.DataFrame, schema: Any) -> CheckResult:
    """The frame follows its data schema (a ``shipyard.data.DataSchema`` or a pandera one).

    The schema and its checking are the data capability's; this only reports its
    broken rules as a pre-train check, one failing example per rule.
    """
    from shipyard.data import DataSchema

    if not isinstance(schema, DataSchema):
        schema = DataSchema.from_pandera(schema)
    report = schema.validate(frame)
    examples = tuple(failure.to_dict() for failure in report.failures)
    return CheckResult("schema", report.ok, report.describe(), examples)
