"""Pipelines: typed steps, their graph, fingerprints, the cache, and runners.

Path: ``Pipeline.run`` -> plan (call the function; steps add nodes) -> execute
(``Executor``: fingerprint each ready node, reuse a cache hit, run the rest on threads
or Ray) -> ``RunStore`` records outputs, metrics and lineage.
"""

from shipyard.pipeline.events import StepEvent
from shipyard.pipeline.pipeline import Pipeline, Run, StepSummary, load_pipeline, pipeline
from shipyard.pipeline.step import Step, StepOutput, step

__all__ = [
    "Pipeline",
    "Run",
    "Step",
    "StepEvent",
    "StepOutput",
    "StepSummary",
    "load_pipeline",
    "pipeline",
    "step",
]
