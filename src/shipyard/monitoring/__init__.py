"""Monitoring: prediction events, sinks, Prometheus metrics, drift and alerts.

Path of a served prediction, in four hops: the server's ``on_prediction`` hook
(``Monitor``) -> ``EventSink.emit`` queues it (bounded; block or drop, counted) -> the
writer thread folds each batch into metrics and the drift watcher's windows -> a
``BatchWriter`` stores it (SQL store, Parquet files, Redis Streams, NATS JetStream).

Drift: ``DriftDetector(profile, spec).check(window)`` compares a window with the model
version's reference profile (``drift_stats`` holds the statistics) and returns a
``DriftReport``; ``alerts`` turns verdicts into deduplicated alerts (log, webhook, store);
``report.build_report`` + ``render.render_html`` make ``shipyard monitor``'s report;
``outcomes.performance_drift`` scores outcomes joined to their events.

Wiring a server: ``monitor = start_monitor(project, registry=app.state.server.metrics.registry)``
then ``attach(app, monitor)``.
"""

from shipyard.monitoring.alerts import Alert, AlertDispatcher, alerts_from_report
from shipyard.monitoring.drift import (
    DriftDetector,
    DriftReport,
    FeatureDrift,
    ReferenceMissingError,
    StatisticResult,
)
from shipyard.monitoring.events import (
    BatchWriter,
    EventSink,
    SinkStats,
    SinkUnavailable,
    event_row,
)
from shipyard.monitoring.metrics import MonitoringMetrics
from shipyard.monitoring.monitor import Monitor, attach, bundle_profile, start_monitor
from shipyard.monitoring.outcomes import PerformanceReport, performance_drift
from shipyard.monitoring.sinks import (
    ParquetEvents,
    ParquetWriter,
    SqlWriter,
    open_events,
    open_sink,
)
from shipyard.monitoring.watch import DriftWatcher
from shipyard.monitoring.window import Window, window_from_columns, window_from_events

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
