"""Evaluation <-> its JSON form (plain dicts, lists and finite numbers; NaN becomes null)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.errors import EvaluationError
from shipyard.evaluation.operational import OperationalStats
from shipyard.evaluation.scorecard import MetricEstimate

if TYPE_CHECKING:
    from shipyard.evaluation.evaluate import Evaluation


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by None, tuples as lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    if isinstance(value, np.ndarray):
        return finite(value.tolist())
    if isinstance(value, np.generic):
        return finite(value.item())
    return value


def evaluation_to_dict(ev: Evaluation, *, per_example: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "task": ev.task,
        "target": ev.target,
        "dataset_digest": ev.dataset_digest,
        "n_rows": ev.n_rows,
        "classes": list(ev.classes),
        "headline_metric": ev.headline_metric,
        "confidence": ev.confidence,
        "n_bootstrap": ev.n_bootstrap,
        "seed": ev.seed,
        "metrics": [m.to_dict() for m in ev.metrics],
        "curves": dict(ev.curves),
        "confusion_matrix": ev.confusion_matrix,
        "residuals": ev.residuals,
        "slices": [
            {
                "feature": s.feature,
                "kind": s.kind,
                "rows": [
                    {
                        "value": r.value,
                        "n": r.n,
                        "metrics": {k: m.to_dict() for k, m in r.metrics.items()},
                    }
                    for r in s.rows
                ],
            }
            for s in ev.slices
        ],
        "worst_examples": [
            {"row": w.row, "outcome": dict(w.outcome), "inputs": dict(w.inputs)}
            for w in ev.worst_examples
        ],
        "operational": ev.operational.to_dict() if ev.operational else None,
    }
    if per_example:
        out["per_example"] = {
            "y_true": ev.y_true.tolist(),
            "y_pred": ev.y_pred.tolist(),
            "proba": None if ev.proba is None else ev.proba.tolist(),
            "losses": {k: v.tolist() for k, v in ev.losses.items()},
        }
    return finite(out)


def evaluation_from_dict(data: Mapping[str, Any]) -> Evaluation:
    from shipyard.evaluation.evaluate import Evaluation, SliceResult, SliceRow, WorstExample

    rows = data.get("per_example")
    if not rows:
        raise EvaluationError(
            "this evaluation was saved without its per-row predictions",
            hint="save it with to_dict(per_example=True) to compare it later",
        )
    classification = data["task"] == "classification"
    y_true = np.asarray(rows["y_true"], dtype=object if classification else float)
    y_pred = np.asarray(rows["y_pred"], dtype=object if classification else float)
    return Evaluation(
        task=data["task"],
        target=data["target"],
        dataset_digest=data["dataset_digest"],
        classes=tuple(data.get("classes", ())),
        headline_metric=data["headline_metric"],
        metrics=tuple(_estimate(m) for m in data["metrics"]),
        confidence=data["confidence"],
        n_bootstrap=data["n_bootstrap"],
        seed=data["seed"],
        y_true=y_true,
        y_pred=y_pred,
        proba=None if rows.get("proba") is None else np.asarray(rows["proba"], dtype=float),
        losses={k: np.asarray(v, dtype=float) for k, v in rows["losses"].items()},
        curves=data.get("curves") or {},
        confusion_matrix=data.get("confusion_matrix"),
        residuals=data.get("residuals"),
        slices=tuple(
            SliceResult(
                s["feature"],
                s["kind"],
                tuple(
                    SliceRow(r["value"], r["n"], {k: _estimate(m) for k, m in r["metrics"].items()})
                    for r in s["rows"]
                ),
            )
            for s in data.get("slices", ())
        ),
        worst_examples=tuple(
            WorstExample(w["row"], w["outcome"], w["inputs"])
            for w in data.get("worst_examples", ())
        ),
        operational=OperationalStats.from_dict(data["operational"])
        if data.get("operational")
        else None,
    )


def _estimate(data: Mapping[str, Any]) -> MetricEstimate:
    value = data.get("value")
    return MetricEstimate(
        data["name"],
        math.nan if value is None else float(value),
        data.get("low"),
        data.get("high"),
        data.get("note"),
    )
