"""Behavioral suites declared in YAML: validated here, once, into ``Suite`` objects.

A suite file (``shipyard_tests.yaml``) has an optional ``model:`` reference and
``suites:``; the same suites may sit in ``shipyard.yaml`` under ``tests:``. Each test
is a one-key mapping naming its kind::

    model: housing@champion
    suites:
      housing-behaviour:
        data: {sample: 200}   # the version's evaluation dataset, else its input example
        tests:
          - directional: {name: more-bathrooms, column: bathrooms, delta: 1, expect: not_decrease}
          - invariance: {name: lot-noise, column: lot_size, noise: 1.0, tolerance: 0.02, relative: true}
          - minimum: {name: typical, cases: [{inputs: {...}, range: [100000, 900000]}]}
          - regression: {name: known-mistakes, file: regression_cases.csv, tolerance: 0.1, relative: true}

Keys, besides ``name``, ``tolerance``, ``relative`` and ``max_failure_rate`` on every test:

- ``data``: ``file`` (CSV/Parquet, relative to the YAML) or ``dataset`` (a stored
  dataset's name or digest), ``where`` (a pandas query), ``sample``, ``seed``;
- ``directional``: ``column``, one of ``delta``/``scale``/``set``, ``expect``
  (increase, decrease, not_decrease, not_increase), ``where``, ``output``;
- ``invariance``: ``column`` and one of ``delta``/``scale``/``set``/``noise``/
  ``shuffle``/``case`` (with ``seed``), or ``perturb:`` a list of such; ``where``, ``output``;
- ``minimum``: ``cases``, each ``inputs`` and ``expected`` or ``range: [low, high]``;
- ``regression``: ``cases``, or ``file`` with the answers in ``expected_column``.

Every problem in a file is reported at once, each naming the file, the key path
(``suites.housing-behaviour.tests[0].directional.expect``) and what is allowed.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shipyard.errors import ModelTestError
from shipyard.testing.perturbations import (
    Add,
    ChangeCase,
    Noise,
    Perturbation,
    Scale,
    SetTo,
    Shuffle,
)
from shipyard.testing.suite import (
    BehavioralTest,
    Case,
    DataSource,
    Directional,
    Invariance,
    MinimumFunctionality,
    RegressionCases,
    Suite,
)

SUITE_FILE = "shipyard_tests.yaml"


class SuiteSpecError(ModelTestError, ValueError):
    """A suite declaration is invalid; ``problems`` lists each, with its key path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        body = (
            problems[0]
            if len(problems) == 1
            else f"{len(problems)} problems:" + "".join(f"\n  - {p}" for p in problems)
        )
        super().__init__(
            f"{source}: {body}",
            hint="each test is one of " + ", ".join(sorted(_KINDS)),
        )


# ---------------------------------------------------------------- the declared shape
class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _ChangeSpec(_Spec):
    """How a column changes: exactly one of delta, scale, set, noise, shuffle, case."""

    delta: float | None = None
    scale: float | None = None
    set: Any = None
    noise: float | None = Field(None, gt=0, description="standard deviation of Gaussian noise")
    shuffle: bool = False
    case: Literal["upper", "lower", "title", "swapcase"] | None = None
    seed: int = 0

    def _perturbation(self, allowed: tuple[str, ...]) -> Perturbation:
        given = [
            k
            for k in ("delta", "scale", "set", "noise", "shuffle", "case")
            if k in self.model_fields_set
        ]
        if len(given) != 1 or given[0] not in allowed:
            got = ", ".join(given) if given else "none"
            raise ValueError(f"give exactly one of {', '.join(allowed)} (got: {got})")
        kind = given[0]
        if kind == "delta":
            return Add(_whole(self.delta))
        if kind == "scale":
            return Scale(float(self.scale))  # type: ignore[arg-type]
        if kind == "set":
            return SetTo(self.set)
        if kind == "noise":
            return Noise(float(self.noise), seed=self.seed)  # type: ignore[arg-type]
        if kind == "case":
            return ChangeCase(self.case)  # type: ignore[arg-type]
        if not self.shuffle:
            raise ValueError("shuffle: false changes nothing; remove it or write shuffle: true")
        return Shuffle(self.seed)


_INVARIANT_CHANGES = ("delta", "scale", "set", "noise", "shuffle", "case")
_DIRECTIONAL_CHANGES = ("delta", "scale", "set")


class _PerturbSpec(_ChangeSpec):
    column: str

    @model_validator(mode="after")
    def _one_change(self) -> _PerturbSpec:
        self._perturbation(_INVARIANT_CHANGES)
        return self


class _ToleranceSpec(_Spec):
    name: str = Field(min_length=1)
    tolerance: float = Field(0.0, ge=0)
    relative: bool = False
    max_failure_rate: float = Field(0.0, ge=0, le=1)

    def _tolerances(self) -> dict[str, Any]:
        return {
            "tolerance": self.tolerance,
            "relative": self.relative,
            "max_failure_rate": self.max_failure_rate,
        }


class InvarianceSpec(_ToleranceSpec, _ChangeSpec):
    """One column and its change, or ``perturb:`` a list of ``{column, <change>}``."""

    column: str | None = None
    perturb: list[_PerturbSpec] | None = None
    where: str | None = None
    output: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _columns(self) -> InvarianceSpec:
        if (self.column is None) == (self.perturb is None):
            raise ValueError("give either column (with one change) or perturb (a list)")
        if self.column is not None:
            self._perturbation(_INVARIANT_CHANGES)
        return self

    def build(self, base_dir: Path) -> Invariance:
        if self.perturb is not None:
            changes = {p.column: p._perturbation(_INVARIANT_CHANGES) for p in self.perturb}
        else:
            changes = {str(self.column): self._perturbation(_INVARIANT_CHANGES)}
        return Invariance(
            self.name, changes, **self._tolerances(), where=self.where, output=self.output
        )


class DirectionalSpec(_ToleranceSpec, _ChangeSpec):
    column: str
    expect: Literal["increase", "decrease", "not_decrease", "not_increase"]
    where: str | None = None
    output: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _one_change(self) -> DirectionalSpec:
        self._perturbation(_DIRECTIONAL_CHANGES)
        return self

    def build(self, base_dir: Path) -> Directional:
        return Directional(
            self.name,
            self.column,
            self._perturbation(_DIRECTIONAL_CHANGES),
            self.expect,
            **self._tolerances(),
            where=self.where,
            output=self.output,
        )


class _CaseSpec(_Spec):
    inputs: dict[str, Any] = Field(min_length=1)
    expected: Any = None
    range: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _one_answer(self) -> _CaseSpec:
        given = [k for k in ("expected", "range") if k in self.model_fields_set]
        if len(given) != 1:
            raise ValueError("give exactly one of expected, range: [low, high]")
        if self.range is not None and self.range[0] > self.range[1]:
            raise ValueError(f"range {list(self.range)} has low > high; write [low, high]")
        return self

    def build(self) -> Case:
        return Case(self.inputs, expected=self.expected, range=self.range)


class MinimumSpec(_ToleranceSpec):
    cases: list[_CaseSpec] = Field(min_length=1)

    def build(self, base_dir: Path) -> MinimumFunctionality:
        return MinimumFunctionality(
            self.name, [c.build() for c in self.cases], **self._tolerances()
        )


class RegressionSpec(_ToleranceSpec):
    """Cases inline, or ``file:`` a CSV/Parquet (relative to the YAML) with an answer column."""

    cases: list[_CaseSpec] | None = None
    file: str | None = None
    expected_column: str = "expected"

    @model_validator(mode="after")
    def _one_source(self) -> RegressionSpec:
        if (self.cases is None) == (self.file is None):
            raise ValueError("give either cases (a list) or file (a CSV or Parquet of cases)")
        return self

    def build(self, base_dir: Path) -> RegressionCases:
        common = self._tolerances()
        if self.file is not None:
            return RegressionCases.from_file(
                self.name, base_dir / self.file, expected_column=self.expected_column, **common
            )
        return RegressionCases(self.name, [c.build() for c in self.cases or ()], **common)


class _DataSpec(_Spec):
    file: str | None = None
    dataset: str | None = Field(None, description="a stored dataset: name or digest")
    sample: int | None = Field(None, gt=0)
    seed: int = 0
    where: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> _DataSpec:
        if self.file is not None and self.dataset is not None:
            raise ValueError("give file or dataset, not both")
        return self


class _SuiteSpec(_Spec):
    # data and tests are validated one by one, so one file's problems are all reported.
    description: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    tests: list[Any] = Field(min_length=1)


class _FileSpec(_Spec):
    model: str | None = Field(None, description="the model to test: NAME[:VERSION|@ALIAS]")
    suites: dict[str, Any] = Field(min_length=1)


_KINDS: dict[str, type[InvarianceSpec | DirectionalSpec | MinimumSpec | RegressionSpec]] = {
    "invariance": InvarianceSpec,
    "directional": DirectionalSpec,
    "minimum": MinimumSpec,
    "regression": RegressionSpec,
}


# ---------------------------------------------------------------- loading
@dataclass(frozen=True)
class SuiteFile:
    """A loaded suite file: its suites and, when it names one, the model they test."""

    path: Path
    model: str | None
    suites: tuple[Suite, ...]


def load_suite_file(path: str | Path) -> SuiteFile:
    """Read and validate a suite file; paths in it are relative to its directory.

    Raises:
        SuiteSpecError: listing every problem, each with its key path.
    """
    path = Path(path)
    source = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise SuiteSpecError(
            source, [f"{where}not valid YAML ({getattr(exc, 'problem', exc)})"]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteSpecError(source, [f"cannot be read ({exc})"]) from None
    if not isinstance(raw, dict):
        raise SuiteSpecError(source, ["the top level must be a mapping with suites: (and model:)"])
    try:
        spec = _FileSpec.model_validate(raw)
    except ValidationError as exc:
        raise SuiteSpecError(source, _problems(exc, (), _FileSpec)) from None
    suites = _build_suites(spec.suites, ("suites",), source, path.parent)
    return SuiteFile(path=path, model=spec.model, suites=suites)


def parse_suites(raw: Mapping[str, Any], *, source: str, base_dir: Path) -> tuple[Suite, ...]:
    """Suites from a mapping of suite name to suite (``shipyard.yaml``'s ``tests:``).

    Args:
        source: names the origin in errors, e.g. ``"shipyard.yaml: tests"``.
        base_dir: the directory that ``file:`` paths are relative to.
    """
    if not isinstance(raw, Mapping) or not raw:
        raise SuiteSpecError(source, ["must be a non-empty mapping of suite name to suite"])
    return _build_suites(raw, (), source, base_dir)


def _build_suites(
    raw: Mapping[str, Any], prefix: tuple[Any, ...], source: str, base_dir: Path
) -> tuple[Suite, ...]:
    problems: list[str] = []
    suites = []
    for name, body in raw.items():
        where = (*prefix, str(name))
        suite = _build_suite(str(name), body, where, base_dir, problems)
        if suite is not None:
            suites.append(suite)
    if problems:
        raise SuiteSpecError(source, problems)
    return tuple(suites)


def _build_suite(
    name: str, body: Any, where: tuple[Any, ...], base_dir: Path, problems: list[str]
) -> Suite | None:
    try:
        spec = _SuiteSpec.model_validate(body)
    except ValidationError as exc:
        problems += _problems(exc, where, _SuiteSpec)
        return None
    try:
        data = _DataSpec.model_validate(spec.data)
    except ValidationError as exc:
        problems += _problems(exc, (*where, "data"), _DataSpec)
        data = None
    tests = [
        _build_test(entry, (*where, "tests", i), base_dir, problems)
        for i, entry in enumerate(spec.tests)
    ]
    if data is None or None in tests:
        return None
    source = DataSource(
        file=base_dir / data.file if data.file else None,
        dataset=data.dataset,
        sample=data.sample,
        seed=data.seed,
        where=data.where,
    )
    try:
        return Suite(name, tuple(t for t in tests if t is not None), data=source)
    except ModelTestError as exc:
        problems.append(f"{_path(where)}: {exc.message}")
        return None


def _build_test(
    entry: Any, where: tuple[Any, ...], base_dir: Path, problems: list[str]
) -> BehavioralTest | None:
    if not isinstance(entry, dict) or len(entry) != 1 or next(iter(entry)) not in _KINDS:
        got = ", ".join(map(str, entry)) if isinstance(entry, dict) else repr(entry)
        problems.append(
            f"{_path(where)}: a test is a mapping with one key, its kind: "
            f"{', '.join(sorted(_KINDS))} (got: {got})"
        )
        return None
    kind, body = next(iter(entry.items()))
    model = _KINDS[kind]
    try:
        return model.model_validate(body).build(base_dir)
    except ValidationError as exc:
        problems += _problems(exc, (*where, kind), model)
    except ModelTestError as exc:
        problems.append(f"{_path((*where, kind))}: {exc}")
    return None


def _problems(exc: ValidationError, prefix: tuple[Any, ...], model: type[BaseModel]) -> list[str]:
    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            allowed = f"; allowed: {', '.join(parent.model_fields)}" if parent else ""
            message = f"unknown key{allowed}"
        elif err["type"] != "missing" and not isinstance(err.get("input"), (dict, list)):
            message += f" (got {err.get('input')!r})"
        out.append(f"{_path((*prefix, *loc))}: {message}")
    return out


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            continue  # a key of a mapping field, such as a suite's name
        inner = _inner_model(field.annotation)
        if inner is None:
            return None
        model = inner
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _whole(value: float | None) -> float:
    number = float(value)  # type: ignore[arg-type]
    return int(number) if number.is_integer() else number
