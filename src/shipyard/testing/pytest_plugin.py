"""A pytest plugin: the behavioral suites of ``shipyard_tests.yaml`` files run as pytest tests.

Each collected suite file becomes ``<file>::<suite>::<test>``, one item per behavioral
test; a failure prints the test's worst failing examples. The model under test is
``--shipyard-model REF`` or the file's ``model:``, loaded by the
``pytest_shipyard_load_model(ref, config)`` hook: by default from the project's
registry (``--shipyard-project``, else pytest's rootdir); a ``conftest.py`` may
implement the hook to hand over any model with ``predict_frame(df)`` or ``predict(df)``.

Installed through the ``pytest11`` entry point; without it, ``-p shipyard.testing.pytest_plugin``.
Only ``pytest`` is imported until a suite file is collected.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from shipyard.testing.behavioral import TestResult
    from shipyard.testing.suite import BehavioralTest, Suite

SUITE_FILES = ("shipyard_tests.yaml",)
_LOADED = pytest.StashKey[dict[str, Any]]()


class ShipyardHookspecs:
    """The hooks this plugin adds."""

    @pytest.hookspec(firstresult=True)
    def pytest_shipyard_load_model(self, ref: str, config: pytest.Config) -> Any:
        """Return the model to test for ``ref``; the first non-None answer wins."""


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(ShipyardHookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("shipyard", "Shipyard model tests")
    group.addoption(
        "--shipyard-model",
        dest="shipyard_model",
        metavar="REF",
        help="the model version to test: NAME, NAME:VERSION or NAME@ALIAS "
        "(default: the suite file's model:)",
    )
    group.addoption(
        "--shipyard-project",
        dest="shipyard_project",
        metavar="DIR",
        help="the Shipyard project whose registry holds the model (default: the rootdir)",
    )
    parser.addini(
        "shipyard_suite_files",
        type="args",
        default=list(SUITE_FILES),
        help="glob patterns of file names collected as Shipyard suites",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_LOADED] = {}


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    patterns = parent.config.getini("shipyard_suite_files")
    if any(fnmatch.fnmatch(file_path.name, p) for p in patterns):
        return SuiteFileCollector.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(trylast=True)
def pytest_shipyard_load_model(ref: str, config: pytest.Config) -> Any:
    """The default: load ``ref`` from the project's registry, pinned to its version."""
    from shipyard.project import Project
    from shipyard.testing.runner import open_registry

    project = Project.open(config.getoption("shipyard_project") or config.rootpath)
    registry = open_registry(project)
    version = registry.get(ref)
    return _RegisteredModel(registry.load(version.ref), project, registry, version)


@dataclass(frozen=True)
class _RegisteredModel:
    """A model loaded from the registry, with what ``suite_rows`` needs to find its rows."""

    model: Any
    project: Any
    registry: Any
    version: Any


class SuiteFileCollector(pytest.File):
    """A suite file: one collector per suite."""

    def collect(self) -> Iterator[pytest.Collector]:
        from shipyard.testing.spec import SuiteSpecError, load_suite_file

        try:
            loaded = load_suite_file(self.path)
        except SuiteSpecError as exc:
            raise self.CollectError(str(exc)) from None
        ref = self.config.getoption("shipyard_model") or loaded.model
        for suite in loaded.suites:
            yield SuiteCollector.from_parent(self, name=suite.name, suite=suite, ref=ref)


class SuiteCollector(pytest.Collector):
    """One suite: one item per test; the model, rows and their predictions made once."""

    def __init__(self, *, suite: Suite, ref: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite = suite
        self.ref = ref
        self._prepared: tuple[Any, pd.DataFrame | None, np.ndarray | None] | None = None

    def collect(self) -> Iterator[pytest.Item]:
        for test in self.suite.tests:
            yield BehavioralItem.from_parent(self, name=test.name, test=test)

    def prepared(self) -> tuple[Any, pd.DataFrame | None, np.ndarray | None]:
        """The model, the suite's selected rows and their predictions (computed once)."""
        if self._prepared is None:
            from shipyard.testing.behavioral import (
                load_rows,
                needs_rows,
                predict_rows,
                select_rows,
            )

            loaded = self._load_model()
            model = loaded.model if isinstance(loaded, _RegisteredModel) else loaded
            rows = base = None
            if needs_rows(self.suite):
                if isinstance(loaded, _RegisteredModel):
                    from shipyard.testing.runner import suite_rows

                    frame = suite_rows(self.suite, loaded.project, loaded.registry, loaded.version)
                else:
                    frame = load_rows(self.suite.data)
                rows = select_rows(frame, self.suite.data)
                base = predict_rows(model, rows)
            self._prepared = (model, rows, base)
        return self._prepared

    def _load_model(self) -> Any:
        from shipyard.errors import ModelTestError

        if self.ref is None:
            raise ModelTestError(
                f"no model to test for {self.path.name}",
                hint="pass --shipyard-model REF, or add model: NAME@ALIAS to the suite file",
            )
        cache = self.config.stash[_LOADED]
        if self.ref not in cache:
            model = self.config.hook.pytest_shipyard_load_model(ref=self.ref, config=self.config)
            if model is None:
                raise ModelTestError(f"no plugin loaded the model {self.ref!r}")
            cache[self.ref] = model
        return cache[self.ref]


class BehavioralTestFailed(Exception):
    """Raised by an item whose test failed; carries the result for the report."""

    def __init__(self, result: TestResult) -> None:
        super().__init__(result.name)
        self.result = result


class BehavioralItem(pytest.Item):
    """One behavioral test of one suite."""

    def __init__(self, *, test: BehavioralTest, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.test = test

    def runtest(self) -> None:
        from shipyard.testing.behavioral import run_test

        assert isinstance(self.parent, SuiteCollector)
        model, rows, base = self.parent.prepared()
        result = run_test(self.test, model, rows, base=base)
        self.user_properties.append(("shipyard_result", result.to_dict()))
        if not result.passed:
            raise BehavioralTestFailed(result)

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | Any:
        from shipyard.errors import ShipyardError

        if isinstance(excinfo.value, BehavioralTestFailed):
            return format_result(excinfo.value.result)
        if isinstance(excinfo.value, ShipyardError):
            return f"{type(excinfo.value).__name__}: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        assert isinstance(self.parent, SuiteCollector)
        return self.path, None, f"{self.parent.suite.name}::{self.name} ({self.test.kind})"


def format_result(result: TestResult, *, shown: int = 5) -> str:
    """A failed result as text: what it checks, how many failed, the worst examples."""
    lines = [f"{result.kind} test '{result.name}' failed: {result.description}"]
    if result.error:
        lines.append(f"error: {result.error}")
    if result.n_checked:
        lines.append(
            f"{result.n_failed} of {result.n_checked} failed ({result.failure_rate:.1%}; "
            f"allowed {result.max_failure_rate:.1%})"
        )
    if result.failing_examples:
        lines.append(f"worst {min(shown, len(result.failing_examples))} examples:")
        for number, example in enumerate(result.failing_examples[:shown], start=1):
            rest = "; ".join(f"{k} {_short(v)}" for k, v in example.items() if k != "inputs")
            lines.append(f"  {number}. inputs {_short(example.get('inputs'))}; {rest}")
    return "\n".join(lines)


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_short(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
