"""The shipped housing example retrains from live traffic: its pipeline reads the stored training set.

Houses in the live traffic are 1.6x larger than in the reference data (a covariate
shift: the relationships hold, the trees trained on smaller houses extrapolate flat).
The controller mixes the reference window with the labelled traffic, the gate judges
both versions on the newest traffic, and the error on the shifted world recovers.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from shipyard.continuous import ContinuousController
from shipyard.examples.housing import FEATURES, TARGET
from shipyard.examples.housing.data import Shift, generate
from shipyard.examples.scaffold import scaffold
from shipyard.pipeline import load_pipeline
from shipyard.project import Project
from shipyard.registry import Registry
from shipyard.registry.gate import promote
from shipyard.rollout.deploy import deploy
from shipyard.store.events import EventStore
from shipyard.testing.runner import test_model

CONTINUOUS = """
continuous:
  housing:
    pipeline: housing
    endpoint: housing
    training_set: {reference: housing-raw, reference_share: 0.5, min_labelled: 500, eval_share: 0.3}
    rollout: {steps: [{set_weight: 50}, {set_weight: 100}]}
    n_bootstrap: 300
"""


@pytest.mark.e2e
def test_the_housing_example_recovers_from_a_shift_through_watch(tmp_path: Path) -> None:
    root = tmp_path / "housing"
    scaffold("housing", root)
    with (root / "shipyard.yaml").open("a") as fh:
        fh.write(CONTINUOUS)
    project = Project.open(root)
    pipe = load_pipeline("pipeline.py:housing", root)
    pipe.name = "housing"
    pipe.run(project=project)
    test_model(project, "housing:1")
    promote(Registry(project), "housing:1", actor="test", n_bootstrap=300)
    deploy(project, "housing", {"strategy": "single", "model": "housing@champion"}, actor="test")

    shift = Shift(sqft_factor=1.6)
    live = generate(3000, seed=11, shift=shift)
    predicted = Registry(project).load("housing:1").predict_frame(live[FEATURES])
    store = EventStore(project.db)
    start = time.time() - len(live)
    ids = [uuid.uuid4().hex for _ in range(len(live))]
    store.write([
        {"request_id": rid, "at": start + i, "endpoint": "housing", "model_name": "housing",
         "model_version": 1, "variant": "default", "inputs": {f: [row[f]] for f in FEATURES},
         "outputs": {"variable": [float(predicted[i])]}, "latency_ms": 1.0}
        for i, (rid, row) in enumerate(zip(ids, live.to_dict("records"), strict=True))
    ])  # fmt: skip
    for rid, price in zip(ids, live[TARGET], strict=True):
        store.record_outcome(rid, "label", float(price))
    store.record_alert(
        endpoint="housing", kind="drift", dedup_key="housing|sqft|ks_pvalue",
        message="housing (housing:1): input 'sqft' drifted", details={}, cooldown_s=0,
    )  # fmt: skip

    [result] = ContinuousController(project).run_once()

    job = result.job
    assert job is not None and job.stage == "promoted", job.details.get("reason")
    assert job.details["dataset"]["reference_rows"] == 2100
    assert Registry(project).get("housing@champion").ref == "housing:2"
    fresh = generate(3000, seed=99, shift=shift)
    errors = {
        ref: float(np.mean(np.abs(Registry(project).load(ref).predict_frame(fresh[FEATURES])
                                  - fresh[TARGET].to_numpy())))
        for ref in ("housing:1", "housing:2")
    }  # fmt: skip
    assert errors["housing:2"] < 0.9 * errors["housing:1"], errors
    project.db.dispose()
