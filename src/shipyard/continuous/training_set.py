"""Training sets for a retraining: a sample of the reference window plus recent labelled events.

Path: ``EventStore.joined(endpoint, outcome)`` gives the newest served events that
have an outcome -> ``labelled_rows`` turns each single-row event into a row of its
inputs with the outcome as the target column -> the newest ``eval_share`` of those
rows become the frozen evaluation dataset, never trained on; the older ones, with a
seeded sample of the reference dataset, the training set -> both are snapshot as
Datasets, so a job records two digests and a rerun reads exactly the same rows.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from shipyard.data import Dataset
from shipyard.errors import DataError
from shipyard.store.events import EventRecord, EventStore

if TYPE_CHECKING:
    from shipyard.continuous.spec import TrainingSetSpec
    from shipyard.project import Project


@dataclass(frozen=True)
class LabelledRows:
    """Served events turned into training rows: inputs plus the outcome as the target."""

    frame: pd.DataFrame  # oldest event first
    events: int  # labelled events read
    skipped: Mapping[str, int] = field(default_factory=dict)  # reason -> events left out


@dataclass(frozen=True)
class TrainingSet:
    """The two snapshots a retraining uses, and how they were made."""

    train: Dataset
    evaluation: Dataset
    reference: Dataset | None
    reference_rows: int
    labelled_train: int
    labelled_eval: int
    skipped: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "train": self.train.digest,
            "train_name": self.train.name,
            "train_rows": self.train.rows,
            "eval": self.evaluation.digest,
            "eval_name": self.evaluation.name,
            "eval_rows": self.evaluation.rows,
            "reference": self.reference.digest if self.reference else None,
            "reference_rows": self.reference_rows,
            "labelled_train": self.labelled_train,
            "labelled_eval": self.labelled_eval,
            "skipped_events": dict(self.skipped),
        }

    def describe(self) -> str:
        ref = f"{self.reference_rows} reference + " if self.reference is not None else ""
        return (
            f"training set {self.train.digest[:12]} ({ref}{self.labelled_train} labelled rows), "
            f"frozen evaluation set {self.evaluation.digest[:12]} "
            f"({self.labelled_eval} newest labelled rows)"
        )


@dataclass(frozen=True)
class Shortfall:
    """Too few labelled events to build a training set."""

    labelled: int
    needed: int
    skipped: Mapping[str, int] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        left = ""
        if self.skipped:
            left = " (left out: " + ", ".join(f"{n} {why}" for why, n in self.skipped.items()) + ")"
        return f"{self.labelled} labelled events, needs at least {self.needed}{left}"


def labelled_rows(
    events: EventStore,
    endpoint: str,
    *,
    outcome: str,
    target: str,
    columns: Sequence[str] | None = None,
    limit: int = 10_000,
) -> LabelledRows:
    """The newest ``limit`` labelled events of ``endpoint`` as a frame of inputs + ``target``.

    Only single-row requests that were answered (status 200) join: one outcome labels
    one row. ``columns`` (the reference's features) selects and orders the inputs; an
    event lacking one of them is left out. Without ``columns`` the first event's inputs
    are used.
    """
    pairs = events.joined(endpoint, outcome, limit=limit, oldest=False)
    skipped: Counter[str] = Counter()
    rows: list[dict[str, Any]] = []
    wanted = list(columns) if columns is not None else None
    for event, result in pairs:
        row, why = _row(event, wanted)
        if row is None:
            skipped[why] += 1
            continue
        if wanted is None:
            wanted = list(row)
        row[target] = float(result.value)
        rows.append(row)
    names = [*(wanted or []), target]
    frame = pd.DataFrame(rows, columns=names) if rows else pd.DataFrame(columns=names)
    return LabelledRows(frame, len(pairs), dict(skipped))


def _row(event: EventRecord, wanted: list[str] | None) -> tuple[dict[str, Any] | None, str]:
    if event.status != 200:
        return None, "failed requests"
    names = wanted if wanted is not None else list(event.inputs)
    row: dict[str, Any] = {}
    for name in names:
        if name not in event.inputs:
            return None, "lacking an input"
        values = event.inputs[name]
        if not isinstance(values, list) or len(values) != 1:
            return None, "multi-row requests"
        value = values[0]
        if isinstance(value, list | dict):
            return None, "tensor inputs"
        row[name] = value
    return row, ""


def build_training_set(
    project: Project,
    model: str,
    endpoint: str,
    policy: TrainingSetSpec,
    *,
    target: str,
) -> TrainingSet | Shortfall:
    """Build and snapshot the training and frozen evaluation sets of one retraining.

    Returns a ``Shortfall`` instead when fewer than ``policy.min_labelled`` labelled
    rows exist.

    Raises:
        NotFoundError: the reference dataset is not stored.
        DataError: the reference lacks the target, or events do not fit its columns.
    """
    reference = Dataset.load(policy.reference, project) if policy.reference else None
    ref_frame = reference.to_pandas() if reference is not None else None
    columns = None
    if ref_frame is not None:
        if target not in ref_frame.columns:
            raise DataError(
                f"reference dataset '{policy.reference}' has no target column {target!r}",
                hint=f"its columns: {', '.join(map(str, ref_frame.columns))}; "
                "set continuous.<model>.training_set.target",
            )
        columns = [str(c) for c in ref_frame.columns if c != target]
    labelled = labelled_rows(
        EventStore(project.db), endpoint, outcome=policy.outcome, target=target,
        columns=columns, limit=policy.max_events,
    )  # fmt: skip
    n = len(labelled.frame)
    if n < policy.min_labelled:
        return Shortfall(n, policy.min_labelled, labelled.skipped)
    frame = labelled.frame
    if ref_frame is not None:
        frame = _conform(frame, ref_frame)
    n_eval = min(n - 1, max(1, math.ceil(n * policy.eval_share)))
    recent, evaluation = frame.iloc[: n - n_eval], frame.iloc[n - n_eval :]
    parts = [recent]
    n_ref = 0
    if ref_frame is not None and policy.share > 0:
        share = policy.share
        n_ref = min(len(ref_frame), round(share / (1 - share) * len(recent)))
        parts.insert(0, ref_frame.sample(n=n_ref, random_state=policy.seed))
    train = pd.concat(parts, ignore_index=True)
    with warnings.catch_warnings():
        # rows already stored under another name keep it; the job records digests
        warnings.simplefilter("ignore")
        train_ds = Dataset.snapshot(train, f"{model}-retrain", project)
        eval_ds = Dataset.snapshot(
            evaluation.reset_index(drop=True), f"{model}-retrain-eval", project
        )
    return TrainingSet(
        train_ds, eval_ds, reference, n_ref, len(recent), len(evaluation), labelled.skipped
    )


def _conform(frame: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each column cast to the reference's dtype, refusing lossy casts."""
    out = {}
    for name in reference.columns:
        dtype = reference[name].dtype
        column = frame[name]
        try:
            if dtype.kind in "iu":
                as_float = pd.to_numeric(column, errors="raise").astype(float)
                if not np.all(np.isfinite(as_float)) or not np.all(as_float == np.round(as_float)):
                    raise ValueError("values are not whole numbers")
            out[name] = column.astype(dtype)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"labelled events' input {name!r} does not fit the reference's {dtype} ({exc})",
                hint="the endpoint's inputs and the reference dataset must describe the same features",
            ) from None
    return pd.DataFrame(out).reset_index(drop=True)
