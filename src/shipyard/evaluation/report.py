"""The evaluation report: one evaluation, its comparison with the champion, and provenance.

``EvaluationReport`` renders to JSON (``to_json``, the canonical form) and to one
self-contained HTML page (``to_html``, drawn from that JSON). ``report_for_version``
builds one for a registered model version: registry -> dataset -> ``evaluate`` (the
champion too, on the same rows) -> ``compare`` -> report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import EvaluationError
from shipyard.evaluation.comparison import Comparison, compare
from shipyard.evaluation.evaluate import Evaluation, evaluate
from shipyard.evaluation.scorecard import LABELS, TASK_METRICS
from shipyard.evaluation.serialize import finite
from shipyard.evaluation.slices import SliceSpec

if TYPE_CHECKING:
    from shipyard.project import Project

SCHEMA = "shipyard.evaluation-report/1"


@dataclass(frozen=True)
class SuiteResult:
    """One recorded model test (or whole suite) and whether it passed."""

    suite: str
    name: str
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class ReportMetadata:
    """Where the evaluated model came from: its reference, settings, code and data."""

    model_ref: str = "model"
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    code_version: Mapping[str, Any] = field(default_factory=dict)
    data_version: Mapping[str, Any] = field(default_factory=dict)
    test_results: tuple[SuiteResult, ...] = ()
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "hyperparameters": dict(self.hyperparameters),
            "code_version": dict(self.code_version),
            "data_version": dict(self.data_version),
            "test_results": [vars(t).copy() for t in self.test_results],
        }


@dataclass(frozen=True)
class EvaluationReport:
    """An evaluation, optionally compared with the champion, with its provenance.

    Example:
        >>> report = EvaluationReport(evaluate(model, df, "price", task="regression",
        ...                                    dataset_digest=ds.digest))
        >>> Path("report.html").write_text(report.to_html())
    """

    evaluation: Evaluation
    comparison: Comparison | None = None
    metadata: ReportMetadata = field(default_factory=ReportMetadata)

    def to_dict(self, *, per_example: bool = True) -> dict[str, Any]:
        """The JSON form; ``per_example`` keeps every row's prediction for later pairing."""
        from shipyard import __version__

        comparison = None
        if self.comparison is not None:
            comparison = self.comparison.to_dict()
            comparison["champion"] = {"ref": self.comparison.champion_ref or "champion"}
        return finite(
            {
                "schema": SCHEMA,
                "shipyard_version": __version__,
                "created_at": self.metadata.created_at,
                "model": {"ref": self.metadata.model_ref},
                "metadata": self.metadata.to_dict(),
                "evaluation": self.evaluation.to_dict(per_example=per_example),
                "comparison": comparison,
                "assumptions": assumptions(self.evaluation, self.comparison),
            }
        )

    def to_json(self, *, indent: int | None = 2, per_example: bool = True) -> str:
        return json.dumps(self.to_dict(per_example=per_example), indent=indent, allow_nan=False)

    def to_html(self) -> str:
        """One self-contained page: inline styles and figures, nothing fetched."""
        from shipyard.evaluation.render import render_html

        return render_html(self.to_dict(per_example=False))

    def write(self, path: str | Path) -> Path:
        """Write HTML, or JSON when ``path`` ends in ``.json``."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        text = self.to_json() if out.suffix.lower() == ".json" else self.to_html()
        out.write_text(text, encoding="utf-8")
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationReport:
        """Rebuild a report from its JSON form (which must hold the per-row predictions)."""
        meta = data.get("metadata") or {}
        comparison = data.get("comparison")
        if comparison is not None:
            comparison = Comparison.from_dict(dict(comparison))
        return cls(
            evaluation=Evaluation.from_dict(data["evaluation"]),
            comparison=comparison,
            metadata=ReportMetadata(
                model_ref=data.get("model", {}).get("ref", "model"),
                hyperparameters=meta.get("hyperparameters") or {},
                code_version=meta.get("code_version") or {},
                data_version=meta.get("data_version") or {},
                test_results=tuple(SuiteResult(**t) for t in meta.get("test_results") or ()),
                created_at=data.get("created_at") or "",
            ),
        )


_MCNEMAR = {
    "statistic": "McNemar's test",
    "used_for": "accuracy: are the two models' error rates different?",
    "assumes": "paired binary outcomes (right/wrong) on the same independent rows; exact "
    "binomial below 25 discordant rows, else χ² with continuity correction",
    "caveat": "uses only rows where exactly one model errs; says nothing about probabilities",
}


def assumptions(ev: Evaluation, comparison: Comparison | None) -> list[dict[str, str]]:
    """Each statistic in the report, what it is used for, what it assumes, when it misleads."""
    level = f"{ev.confidence:.0%}"
    out = [
        {
            "statistic": "Percentile bootstrap interval",
            "used_for": f"the {level} interval of every metric ({ev.n_bootstrap} resamples of rows, seed {ev.seed})",
            "assumes": "rows are independent draws from the population the model will serve; the metric "
            "varies smoothly with the data",
            "caveat": "rows that come in groups (one user, one day) make intervals too narrow; a few dozen "
            "rows or a metric at its bound (accuracy 1.0) make the percentile interval unreliable",
        }
    ]
    if ev.slices:
        out.append(
            {
                "statistic": "Slice intervals",
                "used_for": "the bracketed intervals in the slice tables (same resampling within each slice)",
                "assumes": "as above, within the slice; slice boundaries chosen before looking at results",
                "caveat": "with many slices, some differ from the whole by chance alone (no correction "
                "for multiple comparisons is applied)",
            }
        )
    if ev.task == "classification" and ev.curves.get("calibration"):
        out.append(
            {
                "statistic": "Calibration (ECE, reliability diagram)",
                "used_for": "how far predicted probabilities are from observed frequencies",
                "assumes": "10 equal-width probability bins are enough rows each to estimate a rate",
                "caveat": "ECE depends on the binning and is biased upward on small data; it has no interval",
            }
        )
    if comparison is not None:
        out += [
            {
                "statistic": "Paired bootstrap interval of a delta",
                "used_for": f"the {comparison.confidence:.0%} interval of candidate - champion per metric",
                "assumes": "rows independent; both models rescored on the same resampled rows, so the "
                "interval reflects the paired design",
                "caveat": "as for the bootstrap interval",
            },
            {
                "statistic": "Paired t-test",
                "used_for": "mean per-row loss difference (log loss; squared and absolute error)",
                "assumes": "rows independent; per-example loss differences approximately normal (their "
                "mean is, by the central limit theorem, given a few dozen rows)",
                "caveat": "very heavy-tailed loss differences (a few huge errors) weaken it: read the "
                "Wilcoxon test and the bootstrap interval too",
            },
            {
                "statistic": "Wilcoxon signed-rank test",
                "used_for": "are per-row loss differences centred on zero?",
                "assumes": "rows independent; differences symmetric about their median; normal "
                "approximation with tie correction (50+ non-zero differences)",
                "caveat": "tests the median-like centre, not the mean: it can disagree with the t-test "
                "when a few rows dominate",
            },
            *([_MCNEMAR] if ev.task == "classification" else []),
            {
                "statistic": "Verdict",
                "used_for": f"better / worse / no significant difference, from the {LABELS.get(comparison.headline_metric, comparison.headline_metric)} "
                f"delta's test at alpha = {comparison.alpha}",
                "assumes": "the headline metric was chosen before the comparison; one test decides, so "
                "no multiple-comparison correction is needed",
                "caveat": "other metrics' judgements are descriptive; with many of them, expect one in "
                "twenty to look significant by chance",
            },
        ]
    return out


def report_for_version(
    project: Project,
    ref: str,
    data_ref: str | None = None,
    against: str | None = None,
    out: str | Path | None = None,
    *,
    target: str | None = None,
    slices: Sequence[str | SliceSpec] = (),
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> EvaluationReport:
    """Evaluate a registered model version on a stored dataset, optionally against another.

    Args:
        project: the open project (registry and datasets).
        ref: ``NAME:VERSION``, ``NAME@ALIAS`` or ``NAME``.
        data_ref: dataset name or digest; default the gate's ``evaluation_dataset``, else
            the one recorded on the version (``details["evaluation_dataset"]``).
        against: ``champion`` (any alias of the same model), or a full reference; that
            version is scored on the same rows and compared.
        out: write the report there (``.json`` for JSON, else HTML).
        target: the label column; default the version's recorded target.

    Raises:
        EvaluationError: no dataset or target could be found, or ``against`` is the
            candidate itself.
    """
    from shipyard.data.dataset import Dataset
    from shipyard.registry.registry import Registry
    from shipyard.store.runs import RunStore

    registry = Registry(project)
    version = registry.get(ref)
    data_ref = (
        data_ref
        or project.settings.gate.evaluation_dataset
        or version.details.get("evaluation_dataset")
    )
    if not data_ref:
        raise EvaluationError(
            f"no evaluation dataset for {version.ref}",
            hint="pass --data DATASET, or set gate.evaluation_dataset in shipyard.yaml",
        )
    dataset = Dataset.load(data_ref, project)
    frame = dataset.to_pandas()
    target = target or version.details.get("target")
    if not target:
        raise EvaluationError(
            f"{version.ref} has no recorded target column",
            hint="pass --target COLUMN, or register the version with target=...",
        )

    gate = project.settings.gate
    task = str(version.details.get("task") or registry.load(version.ref).signature.task)
    # the gate's primary metric leads the report, so its verdict and the gate's agree
    headline = gate.primary_metric if gate.primary_metric in TASK_METRICS.get(task, ()) else None

    def score(version_ref: str) -> Evaluation:
        return evaluate(
            registry.load(version_ref),
            frame,
            str(target),
            task=task,
            headline=headline,
            dataset_digest=dataset.digest,
            slices=slices,
            n_bootstrap=n_bootstrap,
            seed=seed,
            model_path=registry.bundle_path(version_ref),
        )

    evaluation = score(version.ref)
    comparison = None
    if against:
        other = registry.get(
            against if (":" in against or "@" in against) else f"{version.name}@{against}"
        )
        if other.ref == version.ref:
            raise EvaluationError(
                f"{against} is {version.ref} itself; there is nothing to compare",
                hint="compare against another version, e.g. --against NAME:VERSION",
            )
        comparison = compare(evaluation, score(other.ref), champion_ref=other.ref, alpha=gate.alpha)
    run = RunStore(project.db).get(version.run_id) if version.run_id else None
    report = EvaluationReport(
        evaluation,
        comparison,
        ReportMetadata(
            model_ref=version.ref,
            hyperparameters=run.params if run else {},
            code_version=_code_version(run, version),
            data_version={
                "dataset": dataset.name,
                "dataset rows": dataset.rows,
                "sha256": dataset.digest,
            },
            test_results=_test_results(version.details.get("tests") or {}),
        ),
    )
    if out is not None:
        report.write(out)
    return report


def _code_version(run: Any, version: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if run is not None:
        out = {
            "git commit": run.git_commit or "unknown",
            "uncommitted changes": bool(run.git_dirty),
            "run": run.id,
        }
    out["bundle sha256"] = version.bundle_digest
    return out


def _test_results(tests: Mapping[str, Any]) -> tuple[SuiteResult, ...]:
    out = []
    for suite, entry in sorted(tests.items()):
        summary = entry.get("summary") or {}
        detail = ", ".join(
            f"{k} {v}" for k, v in summary.items() if isinstance(v, int | float | str)
        )
        out.append(SuiteResult(suite, "whole suite", bool(entry.get("passed")), detail[:300]))
    return tuple(out)
