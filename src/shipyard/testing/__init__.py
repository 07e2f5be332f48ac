"""Model tests: pre-train checks that stop a doomed run, and behavioral post-train tests.

What it owns and how data moves through it:

- pre-train: ``PretrainSuite.standard(train, target, ...).run()`` -> ``CheckResult`` per
  check (``learning``: output shape, can overfit, loss decreases; ``leakage``: label
  leakage, shared rows) -> ``PretrainCheckFailed`` stops the pipeline before training;
- behavioral: a ``Suite`` of ``Invariance``, ``Directional``, ``MinimumFunctionality``
  and ``RegressionCases`` tests (``suite``, or YAML through ``spec``) -> ``run_suite``
  against anything with ``predict_frame(df)`` or ``predict(df)`` -> ``SuiteReport``
  whose failing results list their worst examples;
- a registered version: ``test_model(project, ref)`` pins the version, runs the suites
  and records the results on it for the promotion gate (``runner``); ``shipyard test``
  and the pytest plugin (``pytest_plugin``) call the same functions.

Data schemas belong to ``shipyard.data``; ``check_schema`` only reports them here.
Imports are lazy, so that the pytest plugin costs nothing until a suite is collected.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CheckResult": "shipyard.testing.checks",
    "PretrainCheckFailed": "shipyard.testing.checks",
    "PretrainReport": "shipyard.testing.checks",
    "PretrainSuite": "shipyard.testing.pretrain",
    "check_schema": "shipyard.testing.pretrain",
    "check_output_shape": "shipyard.testing.learning",
    "check_can_overfit": "shipyard.testing.learning",
    "check_loss_decreases": "shipyard.testing.learning",
    "check_label_leakage": "shipyard.testing.leakage",
    "check_no_shared_rows": "shipyard.testing.leakage",
    "Add": "shipyard.testing.perturbations",
    "ChangeCase": "shipyard.testing.perturbations",
    "Noise": "shipyard.testing.perturbations",
    "Scale": "shipyard.testing.perturbations",
    "SetTo": "shipyard.testing.perturbations",
    "Shuffle": "shipyard.testing.perturbations",
    "Case": "shipyard.testing.suite",
    "DataSource": "shipyard.testing.suite",
    "Directional": "shipyard.testing.suite",
    "Invariance": "shipyard.testing.suite",
    "MinimumFunctionality": "shipyard.testing.suite",
    "RegressionCases": "shipyard.testing.suite",
    "Suite": "shipyard.testing.suite",
    "record_regression_case": "shipyard.testing.suite",
    "SuiteReport": "shipyard.testing.behavioral",
    "TestResult": "shipyard.testing.behavioral",
    "run_suite": "shipyard.testing.behavioral",
    "run_test": "shipyard.testing.behavioral",
    "SuiteFile": "shipyard.testing.spec",
    "SuiteSpecError": "shipyard.testing.spec",
    "load_suite_file": "shipyard.testing.spec",
    "parse_suites": "shipyard.testing.spec",
    "ModelTestReport": "shipyard.testing.runner",
    "project_suites": "shipyard.testing.runner",
    "test_model": "shipyard.testing.runner",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'shipyard.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
