"""Shipyard: one tool for the whole life of a model.

The public API. Pipelines and tracking::

    import shipyard

    @shipyard.step
    def train(frame: pd.DataFrame, alpha: float = 1.0) -> Ridge:
        shipyard.log_params(alpha=alpha)
        ...

    @shipyard.pipeline
    def housing(rows: int = 5000):
        return train(load(rows=rows))

    run = housing()          # a Run: id, status, steps, outputs

Imports are lazy so that ``import shipyard`` and the CLI start fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Imported eagerly, after the subpackage, so that `shipyard.pipeline` is the decorator
# and not the subpackage of the same name. Both modules import only the standard library.
from shipyard.pipeline.pipeline import Pipeline, Run, load_pipeline, pipeline
from shipyard.pipeline.step import Step, step

_EXPORTS = {
    "log_params": "shipyard.tracking.context",
    "log_metrics": "shipyard.tracking.context",
    "log_artifact": "shipyard.tracking.context",
    "current_project": "shipyard.tracking.context",
    "log_dataset": "shipyard.tracking.context",
    "scratch_dir": "shipyard.tracking.context",
    "Dataset": "shipyard.data",
    "DataSchema": "shipyard.data",
    "Bundle": "shipyard.bundle",
    "build_bundle": "shipyard.bundle",
    "load_bundle": "shipyard.bundle",
    "compare_runs": "shipyard.tracking.compare",
    "Project": "shipyard.project",
    "Settings": "shipyard.config",
    "load_settings": "shipyard.config",
    "ShipyardError": "shipyard.errors",
}

__all__ = [
    *sorted(_EXPORTS),
    "Pipeline",
    "Run",
    "Step",
    "__version__",
    "load_pipeline",
    "pipeline",
    "step",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'shipyard' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
