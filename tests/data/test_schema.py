from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from shipyard.bundle.signature import TensorSpec
from shipyard.data.schema import ColumnSpec, DataSchema
from shipyard.data.validation import DataValidationError
from shipyard.errors import DataError

HOUSING = DataSchema(
    [
        ColumnSpec("area", "float64", minimum=10, maximum=1000),
        ColumnSpec("rooms", "int64", minimum=1),
        ColumnSpec("region", "str", categories=("north", "south", "east")),
        ColumnSpec("new", "bool"),
        ColumnSpec("price", "float64", nullable=True),
    ]
)


def test_valid_frame_passes(frame: pd.DataFrame) -> None:
    report = HOUSING.validate(frame)
    assert report.ok and report.rows == len(frame)
    HOUSING.check(frame)


def test_check_names_the_column_the_rule_and_the_offending_rows(frame: pd.DataFrame) -> None:
    bad = frame.copy()
    bad.loc[[4, 9, 17], "area"] = [-1.0, 5.0, 2000.0]
    with pytest.raises(DataValidationError) as info:
        HOUSING.check(bad)
    message = str(info.value)
    assert "column 'area' breaks '>= 10' in 2 rows: row 4 = -1.0, row 9 = 5.0" in message
    assert "column 'area' breaks '<= 1000' in 1 row: row 17 = 2000.0" in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, DataError)
    assert {(f.column, f.rule, f.rows) for f in info.value.failures} == {
        ("area", ">= 10", (4, 9)),
        ("area", "<= 1000", (17,)),
    }


def test_every_broken_rule_is_reported_at_once(frame: pd.DataFrame) -> None:
    bad = frame.drop(columns=["new"]).assign(extra=1)
    bad.loc[2, "region"] = "west"
    bad.loc[5, "region"] = None
    bad["rooms"] = bad["rooms"].astype("int32")
    schema = DataSchema(
        [*HOUSING.columns, ColumnSpec("id", "int64", unique=True, required=False)], strict=True
    )
    report = schema.validate(bad.assign(id=[1, 1, *range(2, len(bad))]))
    found = {(f.column, f.rule): f for f in report.failures}
    assert found["new", "present"].count == 0
    assert found["extra", "declared in the schema (strict)"].count == 0
    assert found["rooms", "dtype int64"].values == ("int32",)
    assert found["region", "in ['north', 'south', 'east']"].rows == (2,)
    assert found["region", "not null"].rows == (5,)
    assert found["id", "unique"].rows == (0, 1)
    assert len(report.failures) == 6


def test_rows_are_named_by_the_frame_index_and_only_the_first_few_are_listed() -> None:
    schema = DataSchema([ColumnSpec("x", "float64", maximum=0)])
    df = pd.DataFrame({"x": np.arange(1.0, 11.0)}, index=[f"r{i}" for i in range(10)])
    (failure,) = schema.validate(df).failures
    assert failure.count == 10
    assert failure.rows == ("r0", "r1", "r2", "r3", "r4")
    assert failure.describe().endswith(", …")


def test_validation_never_coerces() -> None:
    schema = DataSchema([ColumnSpec("n", "int64"), ColumnSpec("s", "str")])
    df = pd.DataFrame({"n": ["1", "2"], "s": [1, 2]})
    report = schema.validate(df)
    assert {f.column for f in report.failures} == {"n", "s"}
    assert df["n"].tolist() == ["1", "2"]  # the frame is untouched


def test_dict_round_trip_through_json() -> None:
    schema = DataSchema(
        [*HOUSING.columns, ColumnSpec("id", "Int64", unique=True, required=False)], strict=True
    )
    data = json.loads(json.dumps(schema.to_dict()))
    assert DataSchema.from_dict(data) == schema


def test_yaml_file_reads_the_dict_form(tmp_path: Path) -> None:
    path = tmp_path / "schema.yaml"
    path.write_text(
        "columns:\n"
        "  area: {dtype: float64, minimum: 10, maximum: 1000}\n"
        "  region: {dtype: str, categories: [north, south], nullable: true}\n"
        "strict: true\n"
    )
    schema = DataSchema.from_yaml(path)
    assert schema.names == ["area", "region"]
    assert schema["region"].categories == ("north", "south") and schema.strict


def test_from_dict_names_the_wrong_key() -> None:
    with pytest.raises(DataError, match=r"columns\.area\.maxmum"):
        DataSchema.from_dict({"columns": {"area": {"dtype": "float64", "maxmum": 3}}})
    with pytest.raises(DataError, match="unknown dtype 'float'"):
        DataSchema.from_dict({"columns": {"area": {"dtype": "float"}}})


def test_column_spec_refuses_rules_that_cannot_hold() -> None:
    with pytest.raises(DataError, match="minimum 5 is above maximum 1"):
        ColumnSpec("x", "float64", minimum=5, maximum=1)
    with pytest.raises(DataError, match="categories need dtype str or category"):
        ColumnSpec("x", "int64", categories=("1",))
    with pytest.raises(DataError, match="need a numeric dtype"):
        ColumnSpec("x", "str", minimum=0)
    with pytest.raises(DataError, match="more than once"):
        DataSchema([ColumnSpec("x", "str"), ColumnSpec("x", "str")])


def test_from_pandera_translates_the_rules_serving_can_enforce(frame: pd.DataFrame) -> None:
    declared = pa.DataFrameSchema(
        {
            "area": pa.Column(float, pa.Check.in_range(10, 1000)),
            "rooms": pa.Column("int64", pa.Check.ge(1)),
            "region": pa.Column(str, pa.Check.isin(["north", "south", "east"])),
            "new": pa.Column(bool),
            "price": pa.Column("float64", nullable=True),
        }
    )
    assert DataSchema.from_pandera(declared) == HOUSING


@pytest.mark.parametrize(
    "declared",
    [
        pa.DataFrameSchema({"x": pa.Column(float, pa.Check(lambda s: s > 0))}),
        pa.DataFrameSchema({"x": pa.Column(float, pa.Check.gt(0))}),
        pa.DataFrameSchema({"x": pa.Column(float)}, coerce=True),
    ],
)
def test_from_pandera_refuses_rules_it_cannot_carry(declared: pa.DataFrameSchema) -> None:
    with pytest.raises(DataError):
        DataSchema.from_pandera(declared)


def test_infer_gives_a_schema_the_frame_passes(frame: pd.DataFrame) -> None:
    df = frame.assign(note=[f"n{i}" for i in range(len(frame))])
    df.loc[3, "price"] = np.nan
    schema = DataSchema.infer(df)
    assert schema.validate(df).ok
    assert schema["price"].nullable and not schema["area"].nullable
    assert schema["region"].categories == ("east", "north", "south")
    assert schema["note"].categories is None  # too many distinct values
    assert schema["area"].minimum is None
    empty = DataSchema.infer(pd.DataFrame({"s": pd.Series([], dtype=str)}))
    assert empty["s"].categories is None  # no values seen: no allowed set
    ranged = DataSchema.infer(df, ranges=True)
    assert ranged["area"].minimum == df["area"].min()
    assert ranged.validate(df).ok


def test_signature_inputs_carry_the_same_rules() -> None:
    inputs = HOUSING.to_signature_inputs(["area", "region", "new"])
    assert inputs == (
        TensorSpec("area", "FP64", minimum=10, maximum=1000),
        TensorSpec("region", "BYTES", categories=("north", "south", "east")),
        TensorSpec("new", "BOOL"),
    )
    assert [t.name for t in HOUSING.to_signature_inputs()] == HOUSING.names
    assert HOUSING.to_signature_inputs(["price"])[0].nullable


def test_signature_inputs_refuse_unknown_and_unservable_columns() -> None:
    with pytest.raises(DataError, match="not in the schema"):
        HOUSING.to_signature_inputs(["nope"])
    with pytest.raises(DataError, match="cannot be a model input"):
        DataSchema([ColumnSpec("t", "datetime64[ns]")]).to_signature_inputs()


def test_validate_refuses_what_is_not_a_frame() -> None:
    with pytest.raises(DataError, match="DataFrame"):
        HOUSING.validate({"area": [1.0]})  # type: ignore[arg-type]
