"""Monitoring: prediction events, sinks, Prometheus metrics, drift and alerts.

Path of a served prediction, in four hops: the server's ``on_prediction`` hook
(``Monitor``) -> ``EventSink.emit`` queues it (bounded; block or drop, counted) -> the
writer thread encodes each batch and hands it to the monitoring worker, a child
process (``worker``; in this process with ``sink_process: false``) -> the worker folds
it into metrics and the drift watcher's windows, and a ``BatchWriter`` stores it (SQL
store, Parquet files, Redis Streams, NATS JetStream).

Drift: ``DriftDetector(profile, spec).check(window)`` compares a window with the model
version's reference profile (``drift_stats`` holds the statistics) and returns a
``DriftReport``; ``alerts`` turns verdicts into deduplicated alerts (log, webhook, store);
``report.build_report`` + ``render.render_html`` make ``shipyard monitor``'s report;
``outcomes.performance_drift`` scores outcomes joined to their events.

Wiring a server: ``monitor = start_monitor(project, registry=app.state.server.metrics.registry)``
then ``attach(app, monitor)``.
"""

from __future__ import annotations

import importlib
from typing import Any

# Lazy, as ``shipyard`` itself: a server with the monitoring worker imports only the
# sink and the metrics, not drift (scipy) or profiles (pandas), which cost it most of
# a second at start.
_EXPORTS = {
    "Alert": "alerts", "AlertDispatcher": "alerts", "alerts_from_report": "alerts",
    "DriftDetector": "drift", "DriftReport": "drift", "FeatureDrift": "drift",
    "ReferenceMissingError": "drift", "StatisticResult": "drift",
    "BatchWriter": "events", "EventSink": "events", "SinkStats": "events",
    "SinkUnavailable": "events", "event_row": "events",
    "MonitoringMetrics": "metrics",
    "Monitor": "monitor", "attach": "monitor", "bundle_profile": "monitor",
    "start_monitor": "monitor",
    "PerformanceReport": "outcomes", "performance_drift": "outcomes",
    "ParquetEvents": "sinks", "ParquetWriter": "sinks", "SqlWriter": "sinks",
    "open_events": "sinks", "open_sink": "sinks",
    "DriftWatcher": "watch",
    "ServedColumns": "window", "Window": "window", "window_from_columns": "window",
    "window_from_events": "window",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'shipyard.monitoring' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"shipyard.monitoring.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "Alert",
    "AlertDispatcher",
    "BatchWriter",
    "DriftDetector",
    "DriftReport",
    "DriftWatcher",
    "EventSink",
    "FeatureDrift",
    "Monitor",
    "MonitoringMetrics",
    "ParquetEvents",
    "ParquetWriter",
    "PerformanceReport",
    "ReferenceMissingError",
    "ServedColumns",
    "SinkStats",
    "SinkUnavailable",
    "SqlWriter",
    "StatisticResult",
    "Window",
    "alerts_from_report",
    "attach",
    "bundle_profile",
    "event_row",
    "open_events",
    "open_sink",
    "performance_drift",
    "start_monitor",
    "window_from_columns",
    "window_from_events",
]
