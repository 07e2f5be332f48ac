"""Training sets: labelled events become rows; the newest share is frozen for evaluation, never trained on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from continuous_helpers import serve, world

from shipyard.continuous import Shortfall, TrainingSet, build_training_set, labelled_rows
from shipyard.continuous.spec import TrainingSetSpec
from shipyard.data import Dataset
from shipyard.errors import DataError, NotFoundError
from shipyard.project import Project
from shipyard.store.events import EventStore


def reference(project: Project, rows: int = 300) -> pd.DataFrame:
    frame = world(rows, seed=0)
    frame["n"] = np.arange(rows, dtype=np.int64) % 5  # an integer feature
    Dataset.snapshot(frame, "tiny-raw", project)
    return frame


def served(project: Project, rows: int, *, seed: int = 7, start: float = 1_000.0) -> pd.DataFrame:
    frame = world(rows, seed=seed, shift=4.0)
    ids = serve(project, frame, start=start)
    store = EventStore(project.db)
    with_n = [{**store.get(i).to_dict()} for i in ids]
    for row, i in zip(with_n, range(len(ids)), strict=True):  # add the integer input 'n'
        row["request_id"] = f"{row['request_id']}-n"
        row["inputs"] = {**row["inputs"], "n": [i % 5]}
    store.write(with_n)
    for row, y in zip(with_n, frame["y"], strict=True):
        store.record_outcome(row["request_id"], "truth", float(y))
    frame["n"] = np.arange(rows) % 5
    return frame


def policy(**changes: object) -> TrainingSetSpec:
    base = {"reference": "tiny-raw", "reference_share": 0.5, "outcome": "truth",
            "min_labelled": 10, "eval_share": 0.25, "max_events": 1000}  # fmt: skip
    return TrainingSetSpec.model_validate({**base, **changes})


def test_labelled_events_become_rows_of_inputs_and_the_outcome(project: Project) -> None:
    frame = world(5, seed=1)
    serve(project, frame, start=100.0)  # labelled as "label"
    rows = labelled_rows(EventStore(project.db), "tiny", outcome="label", target="y")
    assert list(rows.frame.columns) == ["x1", "x2", "y"] and rows.events == 5
    pd.testing.assert_frame_equal(rows.frame, frame, check_exact=False, rtol=1e-12)
    assert labelled_rows(EventStore(project.db), "tiny", outcome="other", target="y").events == 0


def test_events_that_cannot_label_one_row_are_left_out_and_counted(project: Project) -> None:
    store = EventStore(project.db)
    base = {"at": 1.0, "endpoint": "e", "model_name": "m", "model_version": 1, "variant": "d",
            "outputs": {"p": [1.0]}, "latency_ms": 1.0}  # fmt: skip
    store.write([
        {**base, "request_id": "one", "inputs": {"a": [1.0], "b": ["x"]}},
        {**base, "request_id": "two-rows", "inputs": {"a": [1.0, 2.0], "b": ["x", "y"]}},
        {**base, "request_id": "no-b", "inputs": {"a": [3.0]}},
        {**base, "request_id": "tensor", "inputs": {"a": [[1.0, 2.0]], "b": ["x"]}},
    ])  # fmt: skip
    for rid in ("one", "two-rows", "no-b", "tensor"):
        store.record_outcome(rid, "label", 5.0)
    rows = labelled_rows(store, "e", outcome="label", target="t", columns=["a", "b"])
    assert rows.frame.to_dict("records") == [{"a": 1.0, "b": "x", "t": 5.0}]
    assert rows.skipped == {"multi-row requests": 1, "lacking an input": 1, "tensor inputs": 1}


def test_the_newest_share_is_frozen_for_evaluation_and_never_trained_on(project: Project) -> None:
    ref = reference(project)
    live = served(project, 40)
    built = build_training_set(project, "tiny", "tiny", policy(), target="y")
    assert isinstance(built, TrainingSet)
    train = built.train.to_pandas()
    frozen = built.evaluation.to_pandas()
    assert built.labelled_eval == 10 and built.labelled_train == 30 and built.reference_rows == 30
    # the evaluation set is exactly the 10 newest served rows, in order
    expected = live.iloc[30:][["x1", "x2", "n", "y"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(frozen[["x1", "x2", "n", "y"]], expected, check_dtype=False)
    key = ["x1", "x2"]
    assert frozen.merge(train, on=key).empty
    # the training set: 30 reference rows sampled with the seed, then the 30 older live rows
    assert list(train.columns) == list(ref.columns) and len(train) == 60
    sample = ref.sample(n=30, random_state=0).reset_index(drop=True)
    pd.testing.assert_frame_equal(train.iloc[:30].reset_index(drop=True), sample)
    assert train["n"].dtype == ref["n"].dtype == np.int64  # cast to the reference's dtypes
    assert built.train.name == "tiny-retrain" and built.evaluation.name == "tiny-retrain-eval"
    assert built.to_dict()["eval"] == built.evaluation.digest
    # the same events give the same two datasets (same digests)
    again = build_training_set(project, "tiny", "tiny", policy(), target="y")
    assert isinstance(again, TrainingSet)
    assert (again.train.digest, again.evaluation.digest) == (
        built.train.digest,
        built.evaluation.digest,
    )


def test_max_events_takes_the_newest_labelled_events(project: Project) -> None:
    reference(project)
    live = served(project, 40)
    built = build_training_set(project, "tiny", "tiny", policy(max_events=20), target="y")
    assert isinstance(built, TrainingSet)
    assert built.labelled_train + built.labelled_eval == 20
    newest = set(np.round(live["x1"].iloc[20:], 9))
    got = set(np.round(built.evaluation.to_pandas()["x1"], 9))
    assert got <= newest


def test_too_few_labelled_events_is_a_shortfall_not_a_dataset(project: Project) -> None:
    reference(project)
    served(project, 8)
    built = build_training_set(project, "tiny", "tiny", policy(), target="y")
    assert isinstance(built, Shortfall)
    assert built.reason == "8 labelled events, needs at least 10"
    assert Dataset.load("tiny-raw", project)  # nothing new was stored
    with pytest.raises(NotFoundError):
        Dataset.load("tiny-retrain", project)


def test_a_reference_without_the_target_or_unknown_is_refused(project: Project) -> None:
    reference(project)
    served(project, 20)
    with pytest.raises(
        DataError, match="reference dataset 'tiny-raw' has no target column 'price'"
    ):
        build_training_set(project, "tiny", "tiny", policy(), target="price")
    with pytest.raises(NotFoundError):
        build_training_set(project, "tiny", "tiny", policy(reference="missing"), target="y")


def test_inputs_that_do_not_fit_the_reference_dtype_are_refused(project: Project) -> None:
    reference(project)
    store = EventStore(project.db)
    rows = [
        {"request_id": f"r{i}", "at": float(i), "endpoint": "tiny", "model_name": "tiny",
         "model_version": 1, "variant": "d", "inputs": {"x1": [0.1], "x2": [0.2], "n": [1.5]},
         "outputs": {}, "latency_ms": 1.0}
        for i in range(12)
    ]  # fmt: skip
    store.write(rows)
    for r in rows:
        store.record_outcome(r["request_id"], "truth", 1.0)
    with pytest.raises(DataError, match="input 'n' does not fit the reference's int64"):
        build_training_set(project, "tiny", "tiny", policy(), target="y")


def test_without_a_reference_only_recent_rows_train(project: Project) -> None:
    served(project, 20)
    built = build_training_set(
        project, "tiny", "tiny", policy(reference=None, reference_share=0), target="y"
    )
    assert isinstance(built, TrainingSet)
    assert built.reference is None and built.reference_rows == 0
    assert len(built.train.to_pandas()) == 15 and set(built.train.columns) == {"x1", "x2", "n", "y"}
