"""Evaluation: metrics, paired significance against the champion, and the report.

In: a model (loaded bundle, scikit-learn estimator or anything with ``predict``), a
frame of frozen evaluation rows and the dataset's sha256. Out: an ``Evaluation``
(metrics with bootstrap intervals, curves, slices, worst rows, operational cost, and
every row's prediction), a ``Comparison`` with the champion on the same rows, and an
``EvaluationReport`` as JSON or one self-contained HTML page.

Path: ``report_for_version`` -> ``evaluate`` (predictions -> scorecard -> curves,
slices, worst rows, operational) -> ``compare`` (significance) -> ``EvaluationReport``
-> ``render`` (figures + template).
"""

from shipyard.evaluation.comparison import Comparison, DatasetMismatchError, compare
from shipyard.evaluation.evaluate import Evaluation, evaluate
from shipyard.evaluation.operational import OperationalStats, measure_operational
from shipyard.evaluation.report import (
    EvaluationReport,
    ReportMetadata,
    SuiteResult,
    report_for_version,
)
from shipyard.evaluation.scorecard import MetricEstimate
from shipyard.evaluation.slices import SliceSpec

__all__ = [
    "Comparison",
    "DatasetMismatchError",
    "Evaluation",
    "EvaluationReport",
    "MetricEstimate",
    "OperationalStats",
    "ReportMetadata",
    "SliceSpec",
    "SuiteResult",
    "compare",
    "evaluate",
    "measure_operational",
    "report_for_version",
]
