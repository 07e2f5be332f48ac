"""Performance drift: served predictions joined with the outcomes that arrived later.

Outcomes are recorded with ``EventStore.record_outcome(request_id, kind, value)``
(idempotent on request id + kind; an unknown request id is an error) and joined to
their events with ``EventStore.joined``. This module compares a current window of
joined pairs with a reference window (the model version's first):

- regression (a numeric output): MAE, RMSE and bias; the test is one-sided
  Mann-Whitney U on absolute errors (are current errors larger?);
- classification (a 2-D probability output; the outcome is the true class index):
  accuracy and log loss; the test is a one-sided two-proportion z-test on the error rate.

Only single-row requests join (one outcome per request); others are counted and left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from shipyard.errors import MonitoringError
from shipyard.store.events import EventRecord, OutcomeRecord

Pairs = Sequence[tuple[EventRecord, OutcomeRecord]]
REGRESSION = "regression"
CLASSIFICATION = "classification"


@dataclass(frozen=True)
class PerformanceReport:
    """Reference vs current performance of one endpoint, and whether it got worse."""

    endpoint: str
    kind: str
    task: str
    output: str
    reference: dict[str, float]
    current: dict[str, float]
    test: str
    statistic: float
    pvalue: float
    alpha: float
    degraded: bool
    skipped: int = 0  # multi-row requests left out

    def to_dict(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in self.__dict__.items() if k not in ("reference", "current")},
            "reference": dict(self.reference),
            "current": dict(self.current),
        }


def performance_drift(
    reference: Pairs, current: Pairs, *, alpha: float = 0.01, output: str | None = None
) -> PerformanceReport:
    """Did the model's performance get worse from ``reference`` to ``current``?

    Raises:
        MonitoringError: a window has no single-row pairs, or no output can be scored.
    """
    ref_pred, ref_true, ref_skip, name = _extract(reference, output, "reference")
    cur_pred, cur_true, cur_skip, _ = _extract(current, name, "current")
    first = reference[0][0]
    common = {
        "endpoint": first.endpoint,
        "kind": reference[0][1].kind,
        "output": name,
        "alpha": alpha,
        "skipped": ref_skip + cur_skip,
    }
    if ref_pred.ndim == 2:
        return _classification(ref_pred, ref_true, cur_pred, cur_true, common)
    return _regression(ref_pred, ref_true, cur_pred, cur_true, common)


def _regression(
    ref_pred: np.ndarray, ref_true: np.ndarray, cur_pred: np.ndarray, cur_true: np.ndarray,
    common: dict[str, Any],
) -> PerformanceReport:  # fmt: skip
    ref_err, cur_err = ref_pred - ref_true, cur_pred - cur_true
    test = stats.mannwhitneyu(np.abs(cur_err), np.abs(ref_err), alternative="greater")
    return PerformanceReport(
        task=REGRESSION,
        reference=_regression_metrics(ref_err),
        current=_regression_metrics(cur_err),
        test="mann_whitney_abs_error",
        statistic=float(test.statistic),
        pvalue=float(test.pvalue),
        degraded=float(test.pvalue) < common["alpha"],
        **common,
    )


def _regression_metrics(err: np.ndarray) -> dict[str, float]:
    return {
        "n": float(err.size),
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "bias": float(np.mean(err)),
    }


def _classification(
    ref_proba: np.ndarray, ref_true: np.ndarray, cur_proba: np.ndarray, cur_true: np.ndarray,
    common: dict[str, Any],
) -> PerformanceReport:  # fmt: skip
    ref_m, ref_wrong = _classification_metrics(ref_proba, ref_true)
    cur_m, cur_wrong = _classification_metrics(cur_proba, cur_true)
    n1, n2 = ref_wrong.size, cur_wrong.size
    p1, p2 = ref_wrong.mean(), cur_wrong.mean()
    pooled = (ref_wrong.sum() + cur_wrong.sum()) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = 0.0 if se == 0 else (p2 - p1) / se
    pvalue = float(stats.norm.sf(z)) if se else 1.0
    return PerformanceReport(
        task=CLASSIFICATION,
        reference=ref_m,
        current=cur_m,
        test="two_proportion_z_error_rate",
        statistic=float(z),
        pvalue=pvalue,
        degraded=pvalue < common["alpha"],
        **common,
    )


def _classification_metrics(
    proba: np.ndarray, true: np.ndarray
) -> tuple[dict[str, float], np.ndarray]:
    labels = true.astype(int)
    if np.any((labels < 0) | (labels >= proba.shape[1])) or np.any(labels != true):
        raise MonitoringError(
            f"classification outcomes must be class indices 0..{proba.shape[1] - 1}",
            hint="record the true class's index (its position in the signature's classes)",
        )
    wrong = (proba.argmax(axis=1) != labels).astype(float)
    picked = np.clip(proba[np.arange(labels.size), labels], 1e-15, 1.0)
    metrics = {
        "n": float(labels.size),
        "accuracy": float(1.0 - wrong.mean()),
        "log_loss": float(-np.mean(np.log(picked))),
    }
    return metrics, wrong


def _extract(
    pairs: Pairs, output: str | None, which: str
) -> tuple[np.ndarray, np.ndarray, int, str]:
    preds: list[Any] = []
    truths: list[float] = []
    skipped = 0
    name = output
    for event, outcome in pairs:
        if name is None:
            name = _scorable_output(event.outputs)
        values: Any = np.asarray(event.outputs.get(name or "", []), dtype=object)
        if values.shape[:1] != (1,):
            skipped += 1
            continue
        preds.append(values[0])
        truths.append(outcome.value)
    if not preds or name is None:
        raise MonitoringError(
            f"the {which} window has no single-row predictions with outcomes",
            hint="record outcomes for served requests (EventStore.record_outcome) and widen the window",
        )
    try:
        pred = np.asarray(preds, dtype=float)
    except (TypeError, ValueError):
        raise MonitoringError(
            f"output {name!r} is not numeric and cannot be scored",
            hint="score a probability or numeric output: pass output=...",
        ) from None
    return pred, np.asarray(truths, dtype=float), skipped, name


def _scorable_output(outputs: Any) -> str | None:
    """The first 2-D numeric output (probabilities), else the first numeric one."""
    numeric = []
    for name, values in outputs.items():
        try:
            a = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            continue
        if a.ndim == 2:
            return str(name)
        numeric.append(str(name))
    return numeric[0] if numeric else None
