"""Continuous training: retrain a served model when monitoring says it drifted, gate it, canary it.

Owns the loop's last arrow: from a drift or performance alert (or a schedule) back
to a new pipeline run, and from there to a new champion. ``spec`` validates the
``continuous:`` section of shipyard.yaml; ``triggers`` decides when a model is due;
``training_set`` builds the training and frozen evaluation sets from the reference
dataset and recent labelled events; ``stages`` does one stage of a job;
``controller`` runs passes and records every stage in ``store.training_jobs``.

Path of one retraining, in four hops: ``check_triggers`` fires -> a job is created
(one per model: a UNIQUE lock) -> ``ContinuousController`` runs its stages
(training set -> pipeline run -> tests -> gate -> canary rollout), committing each
-> the rollout's end moves the champion alias (promoted) or leaves it (rolled back).

How data enters and leaves:

- in: alerts and labelled prediction events (``store.events``), the reference
  dataset (``data``), the project's pipeline, suites, gate and rollout steps;
- out: two datasets, a pipeline run, a registered model version with its test
  results, a canary rollout on the endpoint, an alias move; the job row holds the
  digest, id or reference of each, so a crashed controller resumes where it stopped.

Example::

    from shipyard.continuous import ContinuousController
    ContinuousController(Project.open()).run_once()   # what `shipyard watch --once` does
"""

from shipyard.continuous.controller import ContinuousController, PassResult, StageEvent
from shipyard.continuous.spec import TrainingSetSpec, TriggerSpec, WatchSpec, parse_continuous
from shipyard.continuous.stages import Outcome, StageContext
from shipyard.continuous.training_set import (
    LabelledRows,
    Shortfall,
    TrainingSet,
    build_training_set,
    labelled_rows,
)
from shipyard.continuous.triggers import Trigger, TriggerCheck, check_triggers
from shipyard.store.training_jobs import (
    STAGES,
    TERMINAL,
    JobConflictError,
    TrainingJob,
    TrainingJobActiveError,
    TrainingJobStore,
)

__all__ = [
    "STAGES",
    "TERMINAL",
    "ContinuousController",
    "JobConflictError",
    "LabelledRows",
    "Outcome",
    "PassResult",
    "Shortfall",
    "StageContext",
    "StageEvent",
    "TrainingJob",
    "TrainingJobActiveError",
    "TrainingJobStore",
    "TrainingSet",
    "TrainingSetSpec",
    "Trigger",
    "TriggerCheck",
    "TriggerSpec",
    "WatchSpec",
    "build_training_set",
    "check_triggers",
    "labelled_rows",
    "parse_continuous",
]
