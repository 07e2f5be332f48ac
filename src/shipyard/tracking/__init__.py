"""Tracking: what a run records from inside its steps, its environment, comparisons.

Data enters through ``log_params`` / ``log_metrics`` / ``log_artifact`` (buffered per
step, written when the step closes) and leaves through ``RunStore`` reads and
``compare_runs``.
"""

from shipyard.tracking.compare import RunComparison, compare_runs
from shipyard.tracking.context import current_project, log_artifact, log_metrics, log_params

__all__ = [
    "RunComparison",
    "compare_runs",
    "current_project",
    "log_artifact",
    "log_metrics",
    "log_params",
]
