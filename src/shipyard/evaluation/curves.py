"""The data behind the report's plots: ROC, precision-recall, calibration, confusion, residuals.

Numbers come from ``evaluation.metrics`` (computed on every row); this module picks
which curves to draw and turns them into plain lists (JSON-ready), thinned to a few
hundred points so a report stays small however many rows were scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from shipyard.evaluation import metrics

MAX_CURVE_POINTS = 400
MAX_CURVES = 10
MAX_CONFUSION_LABELS = 25
CALIBRATION_BINS = 10
OTHER = "(other)"


def one_vs_rest(
    y_true: np.ndarray, proba: np.ndarray, classes: Sequence[str]
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(label, 0/1 truth, score) per curve to draw: the positive class when binary, else
    one-vs-rest for the most frequent classes (at most ``MAX_CURVES``), skipping any
    class that is absent or alone in ``y_true`` (it has no curve)."""
    if len(classes) == 2:
        picked = [1]
    else:
        counts = [(int(np.sum(y_true == c)), i) for i, c in enumerate(classes)]
        picked = sorted(i for _, i in sorted(counts, reverse=True)[:MAX_CURVES])
    out = []
    for i in picked:
        hit = (y_true == classes[i]).astype(np.int64)
        if 0 < hit.sum() < len(hit):
            out.append((str(classes[i]), hit, proba[:, i]))
    return out


def roc_curves(
    y_true: np.ndarray, proba: np.ndarray, classes: Sequence[str]
) -> list[dict[str, Any]]:
    out = []
    for label, hit, score in one_vs_rest(y_true, proba, classes):
        curve = metrics.roc_curve(hit, score)
        keep = _thin(len(curve.fpr))
        out.append(
            {
                "label": label,
                "fpr": curve.fpr[keep].tolist(),
                "tpr": curve.tpr[keep].tolist(),
                "auc": curve.auc,
            }
        )
    return out


def pr_curves(
    y_true: np.ndarray, proba: np.ndarray, classes: Sequence[str]
) -> list[dict[str, Any]]:
    out = []
    for label, hit, score in one_vs_rest(y_true, proba, classes):
        curve = metrics.pr_curve(hit, score)
        # recall comes highest first; plot it left to right
        precision, recall = curve.precision[::-1], curve.recall[::-1]
        keep = _thin(len(recall))
        out.append(
            {
                "label": label,
                "precision": precision[keep].tolist(),
                "recall": recall[keep].tolist(),
                "average_precision": curve.average_precision,
                "prevalence": float(np.mean(hit)),
            }
        )
    return out


def calibration_target(
    y_true: np.ndarray, proba: np.ndarray, classes: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, str]:
    """(0/1 outcome, probability, what the probability is) for the reliability diagram.

    Binary: the positive class's probability against whether it was that class.
    Multiclass: the top probability (confidence) against whether the top class was right.
    """
    if len(classes) == 2:
        return (y_true == classes[1]).astype(np.int64), proba[:, 1], f"P({classes[1]})"
    top = np.argmax(proba, axis=1)
    hit = (np.asarray(classes, dtype=object)[top] == y_true).astype(np.int64)
    return hit, proba[np.arange(len(proba)), top], "confidence"


def calibration(y_true: np.ndarray, proba: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Reliability diagram data over ``CALIBRATION_BINS`` equal-width bins."""
    hit, score, what = calibration_target(y_true, proba, classes)
    bins = metrics.calibration_bins(hit, score, n_bins=CALIBRATION_BINS, pos_label=1)
    filled = bins.counts > 0
    binary = len(classes) == 2
    return {
        "mean_predicted": bins.mean_predicted[filled].tolist(),
        "observed": bins.fraction_positive[filled].tolist(),
        "count": bins.counts[filled].astype(int).tolist(),
        "bin_center": ((bins.edges[:-1] + bins.edges[1:]) / 2)[filled].tolist(),
        "bins": CALIBRATION_BINS,
        "expected_calibration_error": bins.ece,
        "x_label": f"predicted {what}" if binary else "confidence (top class probability)",
        "y_label": f"observed share of {classes[1]}" if binary else "accuracy of top class",
        "note": (
            f"Rows are grouped into {CALIBRATION_BINS} equal-width bins of "
            f"{'the predicted ' + what if binary else 'the top class probability'}; each "
            "point is a bin's mean prediction against what was observed in it, and the bars "
            "show how many rows each bin holds. On the diagonal is well calibrated; bins with "
            f"few rows are noisy. Expected calibration error (row-weighted mean gap) = "
            f"{bins.ece:.4f}."
        ),
    }


def confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Counts, actual classes as rows; past ``MAX_CONFUSION_LABELS`` the rarest are pooled."""
    labels = [str(c) for c in classes]
    seen = set(np.unique(np.concatenate([y_true, y_pred]).astype(str)).tolist())
    labels += sorted(seen - set(labels))
    if len(labels) > MAX_CONFUSION_LABELS:
        counts = {c: int(np.sum(y_true == c)) for c in labels}
        keep = sorted(labels, key=lambda c: -counts[c])[: MAX_CONFUSION_LABELS - 1]
        labels = [c for c in labels if c in keep] + [OTHER]
        y_true = np.where(np.isin(y_true, keep), y_true, OTHER)
        y_pred = np.where(np.isin(y_pred, keep), y_pred, OTHER)
    matrix = metrics.confusion_matrix(y_true, y_pred, labels=np.asarray(labels, dtype=object))
    return {"labels": labels, "matrix": matrix.counts.astype(int).tolist()}


def residual_sample(
    y_true: np.ndarray, y_pred: np.ndarray, *, max_points: int = 4000, seed: int = 0
) -> dict[str, Any]:
    """Actual and predicted values for the residual plots, a seeded sample when large."""
    n = len(y_true)
    rows = np.arange(n)
    if n > max_points:
        rows = np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))
    return {
        "actual": np.asarray(y_true, dtype=float)[rows].tolist(),
        "predicted": np.asarray(y_pred, dtype=float)[rows].tolist(),
        "n_rows": n,
    }


def _thin(n: int) -> np.ndarray:
    if n <= MAX_CURVE_POINTS:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, MAX_CURVE_POINTS).round().astype(int))
