"""Testing a registered model version: resolve its reference, run suites, record the results.

Path: ``test_model`` -> ``Registry.get`` pins the version and ``load`` loads it ->
``run_suite`` per suite, on rows from ``suite_rows`` -> ``Registry.record_test_results``
on the version, which the promotion gate reads. Suites come from ``shipyard.yaml``'s
``tests:`` or the project's ``shipyard_tests.yaml``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from shipyard.errors import ModelTestError
from shipyard.testing.behavioral import SuiteReport, load_rows, needs_rows, run_suite
from shipyard.testing.spec import SUITE_FILE, load_suite_file, parse_suites
from shipyard.testing.suite import Suite

if TYPE_CHECKING:
    from shipyard.project import Project


class ModelRegistry(Protocol):
    """What the runner needs of the registry (``shipyard.registry.Registry`` has it)."""

    def get(self, ref: str) -> Any: ...

    def load(self, ref: str) -> Any: ...

    def bundle_path(self, ref: str) -> Path: ...

    def record_test_results(
        self, ref: str, suite_name: str, passed: bool, summary: dict[str, Any]
    ) -> Any: ...


@dataclass(frozen=True)
class ModelTestReport:
    """Every suite's report for one model reference."""

    ref: str
    version: str
    suites: tuple[SuiteReport, ...]

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.suites)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "version": self.version,
            "passed": self.passed,
            "suites": [s.to_dict() for s in self.suites],
        }


def project_suites(project: Project) -> tuple[Suite, ...]:
    """The project's suites: ``tests:`` in shipyard.yaml, else ``shipyard_tests.yaml``.

    Raises:
        ModelTestError: when the project declares none.
        SuiteSpecError: when a declaration is invalid.
    """
    # Settings has no ``tests`` field yet (config.py is the lead's); until it has, the
    # getattr finds nothing and suites come from shipyard_tests.yaml.
    declared = getattr(project.settings, "tests", None)
    if declared:
        return parse_suites(declared, source="shipyard.yaml: tests", base_dir=project.root)
    path = project.root / SUITE_FILE
    if path.exists():
        return load_suite_file(path).suites
    raise ModelTestError(
        f"the project at {project.root} declares no test suites",
        hint=f"add suites under tests: in shipyard.yaml, or write {SUITE_FILE}",
    )


def select_suites(suites: Sequence[Suite], names: Iterable[str]) -> tuple[Suite, ...]:
    """The suites named (all when no names), in the order declared."""
    wanted = list(names)
    known = {s.name for s in suites}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ModelTestError(
            f"no suite named {', '.join(repr(n) for n in unknown)}",
            hint=f"declared suites: {', '.join(sorted(known)) or 'none'}",
        )
    return tuple(s for s in suites if not wanted or s.name in wanted)


def test_model(
    project: Project,
    ref: str,
    suites: Sequence[Suite] | None = None,
    *,
    suite_names: Iterable[str] = (),
    data: pd.DataFrame | None = None,
    record: bool = True,
    registry: ModelRegistry | None = None,
) -> ModelTestReport:
    """Run behavioral suites against a registered model version and record the results.

    The reference is pinned to ``name:version`` first, so an alias moved meanwhile
    cannot get another version's results.

    Args:
        ref: ``NAME``, ``NAME:VERSION`` or ``NAME@ALIAS``.
        suites: the suites to run (default: the project's, see ``project_suites``).
        suite_names: run only these of them.
        data: rows to perturb, instead of each suite's own (see ``suite_rows``).
        record: record each suite's result on the version, for the promotion gate.
        registry: the registry to use (default: the project's).

    Example::

        report = test_model(Project.open(), "housing@challenger")
        assert report.passed, report.to_dict()
    """
    chosen = select_suites(project_suites(project) if suites is None else suites, suite_names)
    registry = registry if registry is not None else open_registry(project)
    version = registry.get(ref)
    model = registry.load(version.ref)
    reports = []
    for suite in chosen:
        rows = data if data is not None else suite_rows(suite, project, registry, version)
        reports.append(run_suite(suite, model, rows))
    if record:
        for report in reports:
            registry.record_test_results(version.ref, report.name, report.passed, report.to_dict())
    return ModelTestReport(ref=ref, version=version.ref, suites=tuple(reports))


test_model.__test__ = False  # type: ignore[attr-defined]  # a library function, not a pytest test


def suite_rows(
    suite: Suite, project: Project, registry: ModelRegistry, version: Any
) -> pd.DataFrame | None:
    """The frame a suite perturbs, for a registered version (None when it perturbs none).

    In order: the suite's own frame or file; its stored ``dataset``; the version's
    evaluation dataset (``details["evaluation_dataset"]``, target column dropped);
    the bundle's input example.
    """
    if not needs_rows(suite):
        return None
    source = suite.data
    if isinstance(source, pd.DataFrame) or (source is not None and source.file is not None):
        return load_rows(source)
    from shipyard.data import Dataset

    if source is not None and source.dataset is not None:
        return Dataset.load(source.dataset, project).to_pandas()
    details = version.details or {}
    if details.get("evaluation_dataset"):
        frame = Dataset.load(details["evaluation_dataset"], project).to_pandas()
        target = details.get("target")
        return frame.drop(columns=[target]) if target in frame.columns else frame
    from shipyard.bundle import Bundle

    example: pd.DataFrame = Bundle.open(registry.bundle_path(version.ref)).input_example()
    return example


def open_registry(project: Project) -> ModelRegistry:
    """The project's registry (imported here: testing needs it only to test a version)."""
    from shipyard.registry.registry import Registry

    registry: ModelRegistry = Registry(project)
    return registry
