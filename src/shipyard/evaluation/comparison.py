"""Candidate against champion on the same frozen rows: paired deltas, paired tests, a verdict.

``compare`` refuses two evaluations of different datasets (different sha256): a
difference in metrics between two datasets says nothing about the models. The
statistics are ``evaluation.significance``'s; this module decides which inputs each
metric takes and words the outcome.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from shipyard.errors import EvaluationError
from shipyard.evaluation import metrics, significance
from shipyard.evaluation import resample_metrics as fast
from shipyard.evaluation.evaluate import Evaluation
from shipyard.evaluation.scorecard import (
    GREATER_IS_BETTER,
    LABELS,
    auc_inputs,
    resample,
    row_statistic,
)
from shipyard.evaluation.serialize import finite

BETTER, WORSE, NO_DIFFERENCE, NOT_COMPARED = (
    "better",
    "worse",
    "no significant difference",
    "not compared",
)

ASSUMES = {
    "mcnemar": "rows independent; each row's outcome (right/wrong) is paired across the two "
    "models; only rows where exactly one model errs carry information (exact binomial "
    "below 25 such rows, else χ² with continuity correction)",
    "t": "rows independent; the mean of per-row loss differences is close to normal "
    "(fine for a few dozen rows unless losses are very heavy-tailed)",
    "wilcoxon": "rows independent; loss differences symmetric about their median; "
    "normal approximation (wants 50+ non-zero differences)",
    "bootstrap": "rows independent; both models rescored on the same resampled rows",
}


TEST_NAMES = {
    "mcnemar": "McNemar",
    "t": "paired t-test",
    "wilcoxon": "Wilcoxon",
    "bootstrap": "bootstrap",
}


class DatasetMismatchError(EvaluationError, ValueError):
    """Two evaluations were made on different datasets, so they cannot be paired."""

    def __init__(
        self, candidate_digest: str, champion_digest: str, problem: str | None = None
    ) -> None:
        self.candidate_digest = candidate_digest
        self.champion_digest = champion_digest
        super().__init__(
            problem
            or f"candidate was evaluated on dataset {candidate_digest[:12]}… but the champion on "
            f"{champion_digest[:12]}…; a comparison needs the same frozen dataset",
            hint="evaluate both on one dataset: `shipyard report MODEL:VERSION --data DATASET "
            "--against champion` scores the champion on the same rows",
        )


@dataclass(frozen=True)
class MetricDelta:
    """Candidate minus champion on one metric, with its paired interval and test."""

    name: str
    candidate: float
    champion: float
    delta: float
    low: float | None
    high: float | None
    test: str | None
    p_value: float | None
    judgement: str


@dataclass(frozen=True)
class PairedTest:
    """One paired test on per-row outcomes or losses."""

    name: str
    compares: str
    statistic: float
    p_value: float
    significant: bool
    assumption: str
    detail: str = ""


@dataclass(frozen=True)
class Comparison:
    """How a candidate fares against the champion on the same rows."""

    dataset_digest: str
    n_rows: int
    headline_metric: str
    alpha: float
    confidence: float
    n_bootstrap: int
    seed: int
    deltas: tuple[MetricDelta, ...]
    tests: tuple[PairedTest, ...]
    verdict: str
    verdict_detail: str
    champion_ref: str | None = None
    champion_curves: dict[str, Any] = field(default_factory=dict)

    def delta(self, name: str) -> MetricDelta:
        for d in self.deltas:
            if d.name == name:
                return d
        raise EvaluationError(
            f"no delta for metric '{name}'", hint=f"one of {[d.name for d in self.deltas]}"
        )

    def to_dict(self) -> dict[str, Any]:
        return finite(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Comparison:
        return cls(
            **{k: v for k, v in data.items() if k not in ("deltas", "tests", "champion")},
            deltas=tuple(MetricDelta(**d) for d in data["deltas"]),
            tests=tuple(PairedTest(**t) for t in data["tests"]),
        )


def compare(
    candidate: Evaluation,
    champion: Evaluation,
    *,
    alpha: float = 0.05,
    n_bootstrap: int | None = None,
    confidence: float | None = None,
    seed: int | None = None,
    champion_ref: str | None = None,
) -> Comparison:
    """Compare two evaluations row by row; they must share the dataset digest.

    The verdict rests on the candidate's headline metric alone (one pre-chosen test,
    so no correction for multiple comparisons is needed); the other rows of the
    table describe, they do not decide.

    Raises:
        DatasetMismatchError: different digests, or (same digest) different rows or targets.
    """
    _check_same_rows(candidate, champion)
    n_bootstrap = candidate.n_bootstrap if n_bootstrap is None else n_bootstrap
    confidence = candidate.confidence if confidence is None else confidence
    seed = candidate.seed if seed is None else seed
    settings = {
        "alpha": alpha,
        "n_resamples": max(n_bootstrap, 1),
        "confidence": confidence,
        "seed": seed,
    }
    deltas = tuple(
        _delta(name, candidate, champion, settings, with_interval=n_bootstrap > 0)
        for name in (m.name for m in candidate.metrics)
    )
    head = next((d for d in deltas if d.name == candidate.headline_metric), None)
    verdict, detail = _verdict(head, alpha)
    return Comparison(
        dataset_digest=candidate.dataset_digest,
        n_rows=candidate.n_rows,
        headline_metric=candidate.headline_metric,
        alpha=alpha,
        confidence=confidence,
        n_bootstrap=n_bootstrap,
        seed=seed,
        deltas=deltas,
        tests=_tests(candidate, champion, alpha),
        verdict=verdict,
        verdict_detail=detail,
        champion_ref=champion_ref,
        champion_curves={k: champion.curves[k] for k in ("roc", "pr") if k in champion.curves},
    )


def _check_same_rows(candidate: Evaluation, champion: Evaluation) -> None:
    a, b = candidate.dataset_digest, champion.dataset_digest
    if a != b:
        raise DatasetMismatchError(a, b)
    if candidate.task != champion.task or candidate.target != champion.target:
        raise DatasetMismatchError(
            a,
            b,
            f"candidate is a {candidate.task} model of '{candidate.target}', the champion "
            f"a {champion.task} model of '{champion.target}'; they answer different questions",
        )
    same_truth = candidate.n_rows == champion.n_rows and (
        np.array_equal(candidate.y_true, champion.y_true)
        if candidate.task == "classification"
        else np.allclose(candidate.y_true, champion.y_true, equal_nan=True)
    )
    if not same_truth:
        raise DatasetMismatchError(
            a,
            b,
            f"both evaluations name dataset {a[:12]}… but their rows differ "
            f"({candidate.n_rows} vs {champion.n_rows} rows, or other targets)",
        )


# Metrics compare_paired handles fast (their deltas are means of per-row losses);
# the rest get a paired bootstrap interval from row statistics (``resample_metrics``).
TESTED = frozenset({"accuracy", "log_loss", "brier", "mae", "rmse"})


def _tested_inputs(name: str, cand: Evaluation, champ: Evaluation) -> tuple[Any, Any, Any] | None:
    """(y_true, candidate, champion) as ``compare_paired`` takes them for metric ``name``."""
    if cand.task == "regression" or name == "accuracy":
        return cand.y_true, cand.y_pred, champ.y_pred
    if cand.proba is None or champ.proba is None or tuple(champ.classes) != tuple(cand.classes):
        return None
    truth, c_score = auc_inputs(cand.y_true, cand.proba, cand.classes)
    _, h_score = auc_inputs(cand.y_true, champ.proba, cand.classes)
    return truth, c_score, h_score


def _statistic(name: str, ev: Evaluation, classes: tuple[str, ...]) -> fast.RowStatistic | None:
    return row_statistic(name, ev.task, ev.y_true, ev.y_pred, ev.proba, classes)


def _delta(
    name: str, cand: Evaluation, champ: Evaluation, settings: dict[str, Any], *, with_interval: bool
) -> MetricDelta:
    c_value, h_value = cand.metric(name).value, _value(champ, name)
    point = MetricDelta(
        name, c_value, h_value, c_value - h_value, None, None, None, None, NOT_COMPARED
    )
    if not with_interval or not (math.isfinite(c_value) and math.isfinite(h_value)):
        return point
    if name in TESTED:
        inputs = _tested_inputs(name, cand, champ)
        if inputs is None:
            return point
        try:
            r = significance.compare_paired(*inputs, metric=name, **settings)
        except ValueError:  # e.g. one class only; the point delta still stands
            return point
        return MetricDelta(
            name, c_value, h_value, r.delta, r.ci_low, r.ci_high, r.test, r.pvalue, _judge(r.better)
        )
    if (champ.proba is None and name == "roc_auc") or tuple(champ.classes) != tuple(cand.classes):
        return point
    ours, theirs = _statistic(name, cand, cand.classes), _statistic(name, champ, cand.classes)
    if ours is None or theirs is None:
        return point
    dist = resample(
        fast.difference(ours, theirs), cand.n_rows, settings["n_resamples"], settings["seed"]
    )
    dist = dist[np.isfinite(dist)]
    if len(dist) < max(2, 0.9 * settings["n_resamples"]):
        return point
    low, high = metrics.percentile_interval(dist, settings["confidence"])
    # no test of its own: judged by whether the paired interval excludes 0, with the
    # p-value that inverts the same percentile interval (so the two always agree)
    sign = 1 if GREATER_IS_BETTER.get(name, True) else -1
    judged = NO_DIFFERENCE
    if low > 0 or high < 0:
        judged = BETTER if sign * (c_value - h_value) > 0 else WORSE
    return MetricDelta(
        name,
        c_value,
        h_value,
        c_value - h_value,
        low,
        high,
        "paired bootstrap",
        bootstrap_pvalue(dist),
        judged,
    )


def bootstrap_pvalue(distribution: np.ndarray) -> float:
    """Two-sided p-value of "no difference" from a paired bootstrap distribution of a delta.

    Twice the smaller tail share on either side of 0, with the +1 correction so that a
    finite number of resamples never claims p = 0 (its resolution is 1 / (B + 1)).
    """
    n = len(distribution)
    below = (np.count_nonzero(distribution <= 0) + 1) / (n + 1)
    above = (np.count_nonzero(distribution >= 0) + 1) / (n + 1)
    return float(min(1.0, 2 * min(below, above)))


def _value(ev: Evaluation, name: str) -> float:
    try:
        return ev.metric(name).value
    except EvaluationError:
        return math.nan


def _judge(better: str) -> str:
    return {"candidate": BETTER, "champion": WORSE}.get(better, NO_DIFFERENCE)


def _verdict(head: MetricDelta | None, alpha: float) -> tuple[str, str]:
    if head is None or head.judgement == NOT_COMPARED:
        return NOT_COMPARED, "the headline metric could not be compared"
    label = LABELS.get(head.name, head.name)
    interval = "" if head.low is None else f" [{head.low:+.4g}, {head.high:+.4g}]"
    test = (
        f", {TEST_NAMES.get(head.test or '', head.test)} p = {head.p_value:.3g}"
        if head.p_value is not None
        else ""
    )
    return head.judgement, f"{label} Δ {head.delta:+.4g}{interval}{test} (alpha = {alpha})"


def _tests(cand: Evaluation, champ: Evaluation, alpha: float) -> tuple[PairedTest, ...]:
    out = []
    if cand.task == "classification":
        m = significance.mcnemar(cand.losses["zero_one"], champ.losses["zero_one"])
        out.append(
            PairedTest(
                "McNemar",
                "right/wrong per row (accuracy)",
                m.statistic,
                m.pvalue,
                m.pvalue < alpha,
                ASSUMES["mcnemar"],
                f"{m.candidate_only_errors} rows only the candidate got wrong, "
                f"{m.champion_only_errors} only the champion ({m.test})",
            )
        )
        pairs = (
            [("log_loss", "per-row log loss")]
            if "log_loss" in cand.losses and "log_loss" in champ.losses
            else []
        )
    else:
        pairs = [
            ("squared_error", "per-row squared error (RMSE, R²)"),
            ("absolute_error", "per-row absolute error (MAE)"),
        ]
    for loss, what in pairs:
        a, b = cand.losses[loss], champ.losses[loss]
        diff = float(np.mean(a - b))
        t = significance.paired_t_test(a, b)
        out.append(
            PairedTest(
                "paired t",
                what,
                t.statistic,
                t.pvalue,
                t.pvalue < alpha,
                ASSUMES["t"],
                f"mean difference (candidate - champion) {diff:+.4g}",
            )
        )
        w = significance.wilcoxon_signed_rank(a, b)
        out.append(
            PairedTest(
                "Wilcoxon signed-rank",
                what,
                w.statistic,
                w.pvalue,
                w.pvalue < alpha,
                ASSUMES["wilcoxon"],
                f"median difference {float(np.median(a - b)):+.4g}",
            )
        )
    return tuple(out)
