from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard.data.dataset import Dataset
from shipyard.data.schema import ColumnSpec, DataSchema
from shipyard.data.validation import DataValidationError
from shipyard.errors import DataError, NotFoundError, StoreError
from shipyard.project import Project
from shipyard.store.datasets import DatasetStore


def test_snapshot_stores_the_bytes_under_their_sha256(
    project: Project, frame: pd.DataFrame
) -> None:
    ds = Dataset.snapshot(frame, "housing", project)
    blob = project.artifacts.get_bytes(ds.digest)
    assert hashlib.sha256(blob).hexdigest() == ds.digest
    assert (ds.name, ds.rows, ds.columns) == ("housing", len(frame), tuple(frame.columns))
    assert ds.schema == {c: str(t) for c, t in frame.dtypes.items()}
    assert ds.profile["area"].mean == pytest.approx(frame["area"].mean())
    assert ds.created_at is not None and ds.created_at.tzinfo is not None


def test_to_pandas_gives_back_the_rows(project: Project, frame: pd.DataFrame) -> None:
    back = Dataset.snapshot(frame, "housing", project).to_pandas()
    pd.testing.assert_frame_equal(back, frame)


def test_snapshotting_the_same_rows_twice_keeps_one_record(
    project: Project, frame: pd.DataFrame
) -> None:
    first = Dataset.snapshot(frame, "housing", project)
    again = Dataset.snapshot(frame.set_axis(range(100, 100 + len(frame))), "housing", project)
    assert again == first
    assert len(DatasetStore(project.db).list()) == 1


def test_same_rows_under_another_name_keep_the_first_name_and_warn(
    project: Project, frame: pd.DataFrame
) -> None:
    first = Dataset.snapshot(frame, "housing", project)
    with pytest.warns(UserWarning, match="already stored as dataset 'housing'"):
        other = Dataset.snapshot(frame, "copy", project)
    assert other.digest == first.digest and other.name == "housing"


def test_load_by_name_gives_the_newest_and_by_digest_or_prefix_a_version(
    project: Project, frame: pd.DataFrame
) -> None:
    v1 = Dataset.snapshot(frame.iloc[:100], "housing", project)
    v2 = Dataset.snapshot(frame.iloc[:200], "housing", project)
    assert Dataset.load("housing", project) == v2
    assert Dataset.load(v1.digest, project) == v1
    assert Dataset.load(v1.digest[:10], project) == v1
    assert Dataset.load("housing", project).to_pandas().shape == (200, frame.shape[1])


def test_load_unknown_says_how_to_list(project: Project) -> None:
    with pytest.raises(NotFoundError, match="shipyard datasets list"):
        Dataset.load("nope", project)


def test_to_pandas_refuses_bytes_that_no_longer_match(
    project: Project, frame: pd.DataFrame
) -> None:
    ds = Dataset.snapshot(frame, "housing", project)
    path = project.artifacts.local_path(ds.digest)
    assert path is not None
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(StoreError, match="corrupt"):
        Dataset.load("housing", project).to_pandas()


def test_a_frame_breaking_its_schema_is_not_stored(project: Project, frame: pd.DataFrame) -> None:
    schema = DataSchema([ColumnSpec("area", "float64", maximum=1.0)])
    with pytest.raises(DataValidationError, match=r"column 'area' breaks '<= 1\.0'"):
        Dataset.snapshot(frame, "housing", project, schema=schema)
    assert DatasetStore(project.db).list() == []
    assert list(project.artifacts.digests()) == []


def test_from_csv_and_from_parquet_name_the_dataset_after_the_file(
    project: Project, frame: pd.DataFrame, tmp_path: Path
) -> None:
    frame.to_csv(tmp_path / "houses.csv", index=False)
    frame.iloc[:50].to_parquet(tmp_path / "houses2.parquet")
    from_csv = Dataset.from_csv(tmp_path / "houses.csv", project)
    from_parquet = Dataset.from_parquet(tmp_path / "houses2.parquet", project, name="h")
    assert (from_csv.name, from_csv.rows) == ("houses", len(frame))
    assert (from_parquet.name, from_parquet.rows) == ("h", 50)
    with pytest.raises(DataError, match="cannot read CSV"):
        Dataset.from_csv(tmp_path / "missing.csv", project)


@pytest.mark.parametrize("name", ["", " padded", "a\nb", "x" * 201, "ab" * 32])
def test_bad_names_are_refused(project: Project, frame: pd.DataFrame, name: str) -> None:
    with pytest.raises(DataError, match="not a valid dataset name"):
        Dataset.snapshot(frame, name, project)


def test_object_strings_are_recorded_with_the_dtype_readers_get(project: Project) -> None:
    df = pd.DataFrame({"s": pd.Series(["a", "b"], dtype=object), "x": np.arange(2.0)})
    ds = Dataset.snapshot(df, "objects", project)
    assert ds.schema == {c: str(t) for c, t in ds.to_pandas().dtypes.items()}
    assert ds.profile["s"].dtype == ds.schema["s"]


def test_to_dict_is_json_ready_and_can_leave_samples_out(
    project: Project, frame: pd.DataFrame
) -> None:
    ds = Dataset.snapshot(frame, "housing", project)
    data = ds.to_dict(sample=False)
    assert data["digest"] == ds.digest and "sample" not in data["profile"]["columns"][0]
