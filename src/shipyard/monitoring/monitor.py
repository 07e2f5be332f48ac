"""The server's monitoring, assembled: one prediction hook feeding the sink, metrics and drift.

``start_monitor(project)`` opens the configured sink with two observers (the metrics
and the online drift watcher), in the monitoring worker process by default, and a
resource sampler; the returned ``Monitor`` is the server's ``on_prediction`` hook. ``attach(app, monitor)`` wires it into an app made
by ``shipyard.serving.create_app``: the hook, the metrics on the app's ``/metrics``, and
a flush of every queued event when the app shuts down.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from shipyard.monitoring.events import EventSink, ServedPrediction, SinkStats
from shipyard.monitoring.metrics import MonitoringMetrics, process_sample
from shipyard.monitoring.sinks import open_sink
from shipyard.store.events import ResourceLog

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from shipyard.data.profile import Profile
    from shipyard.monitoring.watch import DriftWatcher, ProfileLookup
    from shipyard.project import Project

# Drift (scipy) and profiles (pandas) are imported where used: with the worker (the
# default) the server never needs them, and they cost it most of a second at start.

logger = logging.getLogger("shipyard.monitoring")
RESOURCE_LOG = ".shipyard/monitoring/resources.jsonl"
WORKER = "shipyard.monitoring.worker:open_worker"


@dataclass
class Monitor:
    """The prediction hook and what hangs off it; ``close`` flushes and stops all of it."""

    sink: EventSink
    metrics: MonitoringMetrics
    watcher: DriftWatcher | None = None
    sampler: ResourceSampler | None = None
    drain_timeout_s: float = 10.0
    records_status: ClassVar[bool] = True  # failed requests' events too (see EventSink)

    def __call__(self, event: ServedPrediction) -> None:
        self.sink.emit(event)

    def close(self, timeout: float | None = None) -> SinkStats:
        """Write every queued event (within ``timeout``, default ``drain_timeout_s``), stop the threads."""
        stats = self.sink.close(self.drain_timeout_s if timeout is None else timeout)
        if self.watcher is not None:
            self.watcher.close()
        if self.sampler is not None:
            self.sampler.stop()
        if stats.dropped or stats.rejected:
            logger.warning("event sink closed with events lost: %s", stats)
        return stats


def start_monitor(
    project: Project,
    *,
    registry: CollectorRegistry | None = None,
    profiles: ProfileLookup | None = None,
) -> Monitor:
    """Open the configured sink and start metrics, online drift checks and resource samples.

    With ``monitoring.sink_process`` (the default) the metrics of inputs and outputs,
    the drift checks and the writes run in the monitoring worker, a child process
    (``monitoring.worker``); this process keeps the queue, the event counters and its
    own CPU and memory. Otherwise, or when ``profiles`` is given (a Python callable
    cannot cross to the worker), all of it runs in this process's threads.

    Args:
        project: settings (``monitoring:``) and the metadata store.
        registry: the Prometheus registry to add the metrics to (the server's).
        profiles: ``(model, version) -> Profile | None``; by default read from each
            version's bundle in the registry.

    Raises:
        ConfigError: the sink or a webhook is misconfigured.
    """
    spec = project.settings.monitoring
    if spec.sink_process and profiles is None:
        from shipyard.monitoring.offload import ProcessWriter

        settings = project.settings.model_dump_json()
        worker = ProcessWriter(
            WORKER, settings, name=spec.sink, priority=spec.worker_priority, takes_events=True
        )
        sink = open_sink(project.settings, project.db, writer=worker)
        metrics = MonitoringMetrics(registry, sink_stats=sink.stats, remote=lambda: worker.extra)
        sampler = ResourceSampler(ResourceLog(project.root / RESOURCE_LOG), sink).start()
        return Monitor(sink, metrics, None, sampler, drain_timeout_s=spec.drain_timeout_s)
    from shipyard.monitoring.alerts import AlertDispatcher
    from shipyard.monitoring.watch import DriftWatcher
    from shipyard.store.events import EventStore

    lookup = profiles or registry_profiles(project)
    metrics = MonitoringMetrics(registry)
    store = EventStore(project.db)
    watcher = DriftWatcher(spec, lookup, metrics=metrics, alerts=AlertDispatcher(spec, store))
    sink = open_sink(project.settings, project.db, observers=[metrics.observe, watcher.observe])
    metrics.sink_stats = sink.stats
    sampler = ResourceSampler(ResourceLog(project.root / RESOURCE_LOG), sink).start()
    return Monitor(sink, metrics, watcher, sampler, drain_timeout_s=spec.drain_timeout_s)


def attach(app: Any, monitor: Monitor) -> None:
    """Wire a Monitor into an app from ``create_app``: hook, /metrics and a flush at shutdown."""
    server = app.state.server
    server.on_prediction = monitor
    app.state.monitor = monitor
    registry = server.metrics.registry
    if monitor.metrics.registry is not registry:
        registry.register(monitor.metrics.collector)
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with inner(a) as state:
            yield state
        # after the server drained: every event of every answered request is queued
        import asyncio

        await asyncio.to_thread(monitor.close)

    app.router.lifespan_context = lifespan


def registry_profiles(project: Project) -> ProfileLookup:
    """A ProfileLookup reading ``profile.json`` from each version's bundle (None when absent)."""

    from shipyard.monitoring.drift import ReferenceMissingError

    def lookup(name: str, version: int) -> Profile | None:
        try:
            return bundle_profile(project, name, version)
        except ReferenceMissingError as exc:
            logger.warning("%s", exc)
            return None

    return lookup


def bundle_profile(project: Project, name: str, version: int) -> Profile:
    """The reference profile stored in a registered version's bundle.

    Raises:
        ReferenceMissingError: the version is unknown, or its bundle has no profile.
    """
    from shipyard.bundle.build import PROFILE_FILE
    from shipyard.bundle.manifest import Bundle
    from shipyard.data.profile import Profile
    from shipyard.errors import DataError, ShipyardError
    from shipyard.monitoring.drift import ReferenceMissingError
    from shipyard.registry import Registry

    model = f"{name}:{version}"
    try:
        bundle = Bundle.open(Registry(project).bundle_path(model))
    except ShipyardError as exc:
        raise ReferenceMissingError(model, f"its bundle cannot be opened ({exc.message})") from None
    if PROFILE_FILE not in bundle.manifest.files:
        raise ReferenceMissingError(model, f"its bundle has no {PROFILE_FILE}")
    try:
        return Profile.from_dict(bundle.read_json(PROFILE_FILE))
    except (DataError, ValueError) as exc:
        raise ReferenceMissingError(model, f"its {PROFILE_FILE} is unreadable ({exc})") from None


class ResourceSampler:
    """Every ``interval_s``: this process's CPU, memory, threads and the sink's queue, to a ResourceLog."""

    def __init__(
        self, log: ResourceLog, sink: EventSink | None = None, *, interval_s: float = 10.0
    ) -> None:
        self.log = log
        self.sink = sink
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="shipyard-resources", daemon=True)
        self._process: Any = None

    def start(self) -> ResourceSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def sample(self) -> None:
        """Take one sample now."""
        values = process_sample(self)
        if values is None:
            return
        record: dict[str, Any] = {"at": time.time(), **values}
        if self.sink is not None:
            stats = self.sink.stats()
            record.update(events_queued=stats.queued, events_dropped=stats.dropped)
        try:
            self.log.append(record)
        except OSError as exc:
            logger.warning("resource sample not written: %s", exc)

    def _run(self) -> None:
        process_sample(self)  # the first CPU reading only starts the counter
        while not self._stop.wait(self.interval_s):
            self.sample()
