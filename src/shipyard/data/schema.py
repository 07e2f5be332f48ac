"""DataSchema: a dataset's rules, declared once and applied in the pipeline and at serving.

A schema is a list of ColumnSpec (dtype, nulls, uniqueness, inclusive range, allowed
categories). It can be written in Python, read from YAML or a dict, translated from a
pandera ``DataFrameSchema``, or inferred from a frame as a starting point. pandera
checks frames against it (never coercing); ``to_signature_inputs`` hands the same rules
to the server as TensorSpecs, and ``to_dict``/``from_dict`` store it in bundles as JSON.

    schema = DataSchema([
        ColumnSpec("area", "float64", minimum=10, maximum=1000),
        ColumnSpec("region", "str", categories=("north", "south")),
        ColumnSpec("id", "int64", unique=True),
    ])
    schema.check(df)   # raises DataValidationError naming column, rule and rows
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from shipyard.bundle.signature import TensorSpec
from shipyard.data.validation import ValidationReport, report_from_failure_cases
from shipyard.errors import DataError

if TYPE_CHECKING:
    import pandera.pandas as pa

# dtype -> Open Inference Protocol datatype (None: not a model input type)
_INTS = {f"int{b}": f"INT{b}" for b in (8, 16, 32, 64)}
_UINTS = {f"uint{b}": f"UINT{b}" for b in (8, 16, 32, 64)}
DTYPES: dict[str, str | None] = {
    "bool": "BOOL",
    "boolean": "BOOL",  # nullable
    **_INTS,
    **_UINTS,
    **{name.capitalize(): oip for name, oip in _INTS.items()},  # Int64: nullable
    **{"UInt" + name[4:]: oip for name, oip in _UINTS.items()},
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
    "Float32": "FP32",
    "Float64": "FP64",
    "str": "BYTES",
    "category": "BYTES",
    **{f"datetime64[{unit}]": None for unit in ("s", "ms", "us", "ns")},
}
_STRING_LIKE = {"str", "category"}
_PANDERA_ALIASES = {"string[pyarrow]": "str", "string[python]": "str", "string": "str"}


@dataclass(frozen=True)
class ColumnSpec:
    """The rules for one column.

    Args:
        name: the column.
        dtype: one of ``DTYPES`` (``int64``, ``float64``, ``Int64`` (nullable), ``bool``,
            ``str``, ``category``, ``datetime64[ns]``, ...). Never coerced: a frame whose
            column has another dtype fails.
        nullable: whether nulls are allowed.
        unique: whether values must be distinct.
        minimum, maximum: inclusive bounds for numbers.
        categories: the allowed values of a ``str`` or ``category`` column.
        required: whether the column must be present.
    """

    name: str
    dtype: str
    nullable: bool = False
    unique: bool = False
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str, ...] | None = None
    required: bool = True

    def __post_init__(self) -> None:
        where = f"column '{self.name}'"
        if not isinstance(self.name, str) or not self.name:
            raise DataError(f"a column name must be a non-empty string, got {self.name!r}")
        if self.dtype not in DTYPES:
            raise DataError(
                f"{where}: unknown dtype {self.dtype!r}",
                hint=f"use one of {', '.join(DTYPES)}",
            )
        if self.categories is not None:
            if self.dtype not in _STRING_LIKE:
                raise DataError(
                    f"{where}: categories need dtype str or category, not {self.dtype}",
                    hint="bound numbers with minimum/maximum",
                )
            object.__setattr__(self, "categories", tuple(str(c) for c in self.categories))
        bounded = self.minimum is not None or self.maximum is not None
        if bounded and DTYPES[self.dtype] in (None, "BYTES", "BOOL"):
            raise DataError(f"{where}: minimum/maximum need a numeric dtype, not {self.dtype}")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise DataError(f"{where}: minimum {self.minimum} is above maximum {self.maximum}")

    def rules(self) -> list[str]:
        """The value checks, in the words failures are reported with."""
        out = []
        if self.minimum is not None:
            out.append(f">= {self.minimum}")
        if self.maximum is not None:
            out.append(f"<= {self.maximum}")
        if self.categories is not None:
            out.append(f"in {list(self.categories)}")
        return out

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dtype": self.dtype}
        for key, default in (("nullable", False), ("unique", False), ("required", True)):
            if getattr(self, key) != default:
                out[key] = getattr(self, key)
        for key in ("minimum", "maximum"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.categories is not None:
            out["categories"] = list(self.categories)
        return out


class _ColumnModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)
    dtype: str
    nullable: bool = False
    unique: bool = False
    minimum: float | None = None
    maximum: float | None = None
    categories: list[str] | None = None
    required: bool = True


class _SchemaModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    columns: dict[str, _ColumnModel]
    strict: bool = False


@dataclass(frozen=True)
class DataSchema:
    """The rules of a dataset: a ColumnSpec per column, and whether others may appear.

    Args:
        columns: the column specs, in order.
        strict: when True, a column the schema does not declare is a failure.
    """

    columns: tuple[ColumnSpec, ...]
    strict: bool = False
    _pandera: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise DataError(f"the schema declares {dupes} more than once")

    def __getitem__(self, name: str) -> ColumnSpec:
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise KeyError(f"the schema has no column {name!r}; it has {self.names}")

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    # ------------------------------------------------------------ checking
    def validate(self, df: pd.DataFrame) -> ValidationReport:
        """Check a frame against every rule, collecting all failures (nothing is coerced)."""
        import pandera.errors as pe

        if not isinstance(df, pd.DataFrame):
            raise DataError(f"expected a pandas DataFrame, got {type(df).__name__}")
        try:
            self.to_pandera().validate(df, lazy=True, inplace=True)
        except pe.SchemaErrors as exc:
            return report_from_failure_cases(exc.failure_cases, len(df), self._rule_of_check)
        return ValidationReport(rows=len(df))

    def check(self, df: pd.DataFrame) -> None:
        """Raise DataValidationError naming each broken rule's column, rule and rows."""
        self.validate(df).raise_for_failures()

    def _rule_of_check(self, column: str, number: int) -> str | None:
        rules = self[column].rules() if column in self.names else []
        return rules[number] if 0 <= number < len(rules) else None

    def to_pandera(self) -> pa.DataFrameSchema:
        """The equivalent pandera schema (built once, then reused)."""
        if self._pandera is None:
            import pandera.pandas as pa

            columns = {}
            for spec in self.columns:
                checks = []
                if spec.minimum is not None:
                    checks.append(pa.Check.ge(spec.minimum))
                if spec.maximum is not None:
                    checks.append(pa.Check.le(spec.maximum))
                if spec.categories is not None:
                    checks.append(pa.Check.isin(list(spec.categories)))
                columns[spec.name] = pa.Column(
                    spec.dtype,
                    checks=checks,
                    nullable=spec.nullable,
                    unique=spec.unique,
                    required=spec.required,
                    coerce=False,
                )
            schema = pa.DataFrameSchema(columns, strict=self.strict, coerce=False)
            object.__setattr__(self, "_pandera", schema)
        return self._pandera

    # ------------------------------------------------------------ serving
    def to_signature_inputs(self, columns: Sequence[str] | None = None) -> tuple[TensorSpec, ...]:
        """The model inputs these rules describe, one TensorSpec per column.

        Args:
            columns: the model's feature columns, in order (default: every column);
                leave out the target and anything the model does not take.

        Raises:
            DataError: for an unknown column or one whose dtype a request cannot carry.
        """
        out = []
        for name in self.names if columns is None else columns:
            if name not in self.names:
                raise DataError(
                    f"column '{name}' is not in the schema", hint=f"it has {self.names}"
                )
            spec = self[name]
            datatype = DTYPES[spec.dtype]
            if datatype is None:
                raise DataError(
                    f"column '{name}' ({spec.dtype}) cannot be a model input",
                    hint="derive numeric features from it before the model, or leave it out",
                )
            out.append(
                TensorSpec(
                    name=name,
                    datatype=datatype,
                    categories=spec.categories,
                    minimum=spec.minimum,
                    maximum=spec.maximum,
                    nullable=spec.nullable,
                )
            )
        return tuple(out)

    # ------------------------------------------------------------ reading and writing
    def to_dict(self) -> dict[str, Any]:
        """``{"columns": {name: {"dtype": ..., ...}}, "strict": bool}``, JSON-safe."""
        return {"columns": {c.name: c.to_dict() for c in self.columns}, "strict": self.strict}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataSchema:
        """Read the dict form (as written by :meth:`to_dict`, or from YAML).

        Raises:
            DataError: naming the key that is wrong.
        """
        try:
            model = _SchemaModel.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise DataError(
                f"not a valid data schema: {problems}",
                hint='write {"columns": {"name": {"dtype": "float64", ...}}, "strict": false}',
            ) from None
        specs = [
            ColumnSpec(
                name=name,
                dtype=col.dtype,
                nullable=col.nullable,
                unique=col.unique,
                minimum=col.minimum,
                maximum=col.maximum,
                categories=tuple(col.categories) if col.categories is not None else None,
                required=col.required,
            )
            for name, col in model.columns.items()
        ]
        return cls(tuple(specs), strict=model.strict)

    @classmethod
    def from_yaml(cls, path: str | Path) -> DataSchema:
        """Read a schema from a YAML file holding the :meth:`to_dict` form."""
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read the data schema {path}: {exc}") from None
        except yaml.YAMLError as exc:
            raise DataError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(data, Mapping):
            raise DataError(f"{path}: a data schema must be a mapping with a 'columns' key")
        return cls.from_dict(data)

    @classmethod
    def from_pandera(cls, schema: pa.DataFrameSchema) -> DataSchema:
        """Translate a pandera DataFrameSchema.

        Only rules that can also be checked at serving translate: dtype, nullable,
        unique, required, and the checks ``ge``, ``le``, ``in_range`` (inclusive) and
        ``isin``. Anything else is refused rather than silently dropped.

        Raises:
            DataError: naming the column and the rule that does not translate.
        """
        if schema.index is not None or schema.checks or schema.strict not in (True, False):
            raise DataError(
                "the pandera schema has index rules, frame-wide checks or strict='filter'",
                hint="declare rules per column; a dataset has no index",
            )
        if schema.coerce:
            raise DataError(
                "the pandera schema coerces dtypes, and Shipyard never coerces",
                hint="set coerce=False and give the data the declared dtypes",
            )
        specs = []
        for name, column in schema.columns.items():
            if column.regex or column.coerce:
                raise DataError(f"column '{name}': regex columns and coerce=True do not translate")
            dtype = str(column.dtype)
            bounds: dict[str, Any] = {}
            for check in column.checks:
                bounds.update(_translate_check(str(name), check))
            specs.append(
                ColumnSpec(
                    name=str(name),
                    dtype=_PANDERA_ALIASES.get(dtype, dtype),
                    nullable=bool(column.nullable),
                    unique=bool(column.unique),
                    required=bool(column.required),
                    **bounds,
                )
            )
        return cls(tuple(specs), strict=bool(schema.strict))

    @classmethod
    def infer(
        cls, df: pd.DataFrame, *, ranges: bool = False, max_categories: int = 20
    ) -> DataSchema:
        """A starting point to review: dtypes and nullability as found in ``df``.

        Args:
            ranges: also bound numeric columns by the observed minimum and maximum
                (tight: new values just outside them will fail).
            max_categories: string columns with at most this many distinct values get
                them as allowed categories.
        """
        return cls(tuple(_infer_column(str(n), df[n], ranges, max_categories) for n in df.columns))


def _translate_check(column: str, check: Any) -> dict[str, Any]:
    stats = dict(check.statistics or {})
    if check.name == "greater_than_or_equal_to":
        return {"minimum": stats["min_value"]}
    if check.name == "less_than_or_equal_to":
        return {"maximum": stats["max_value"]}
    if (
        check.name == "in_range"
        and stats.get("include_min", True)
        and stats.get("include_max", True)
    ):
        return {"minimum": stats["min_value"], "maximum": stats["max_value"]}
    if check.name == "isin":
        return {"categories": tuple(str(v) for v in stats["allowed_values"])}
    raise DataError(
        f"column '{column}': check {check.error or check.name!r} cannot be declared in a "
        "DataSchema, so serving could not enforce it",
        hint="use ge, le, in_range (inclusive) or isin, or check it in a pipeline step",
    )


def _infer_column(name: str, series: pd.Series, ranges: bool, max_categories: int) -> ColumnSpec:
    dtype = _dtype_name(name, series)
    nullable = bool(series.isna().any())
    extra: dict[str, Any] = {}
    if dtype in _STRING_LIKE:
        distinct = series.dropna().astype(str).unique()
        if 0 < len(distinct) <= max_categories:
            extra["categories"] = tuple(sorted(distinct))
    elif ranges and DTYPES[dtype] not in (None, "BOOL") and series.notna().any():
        extra["minimum"] = float(series.min())
        extra["maximum"] = float(series.max())
    return ColumnSpec(name, dtype, nullable=nullable, **extra)


def _dtype_name(name: str, series: pd.Series) -> str:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_string_dtype(dtype) and (
        not pd.api.types.is_object_dtype(dtype)
        or pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty")
    ):
        return "str"
    text = str(dtype)
    if text in DTYPES:
        return text
    raise DataError(
        f"column '{name}' has dtype {text}, which a DataSchema cannot declare",
        hint=f"convert it to one of {', '.join(DTYPES)}",
    )
