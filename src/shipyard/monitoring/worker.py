"""The monitoring worker: everything done with a prediction event after it leaves the server.

A server with ``monitoring.sink_process`` (the default) keeps only the queue and one
``orjson`` call per event; this worker, a child process fed through a ``ProcessWriter``,
does the rest: it folds each batch into the feature and prediction metrics, gathers
drift windows and checks them (alerts included), and stores the batch in the
configured sink. Measured on 2 cores, the same work in the server's own threads cost
the request loop about as much again in GIL hand-offs as in the work itself.

It takes events only, as the server encodes them (each an array of its fields in
``SERVED_FIELDS`` order), and reads each event's fields once (``served_values``):
those values are its bound SQL row (``EventStore.write_values``) and the batch's
columns are read from them (``served_columns_of_values``), with no row mapping between.
Its CPU is not free even at idle priority (the server shares the machine's cores and
caches with it), so every microsecond per event here counts.

The server shows the worker's metrics on its own ``/metrics``: an answer to a batch
carries the worker's metrics as Prometheus text (``ProcessWriter.extra``), which the
server's collector parses when scraped. Rendering them costs ~2 ms, so under load
(batches of ``SMALL_BATCH`` events or more) they are sent at most every
``RENDER_EVERY_S``; when the load stops, the sink's idle tick asks for them again
(``ProcessWriter.refresh``). A worker that dies is restarted with the next batch; its
open drift windows and running summaries start again empty.
"""

from __future__ import annotations

import logging
import operator
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from shipyard.monitoring.events import BatchWriter, SinkUnavailable
from shipyard.monitoring.metrics import MonitoringMetrics
from shipyard.monitoring.watch import DriftWatcher
from shipyard.monitoring.window import ServedColumns, served_columns_of_values
from shipyard.store.events import EVENT_COLUMNS, served_values

logger = logging.getLogger("shipyard.monitoring")
RENDER_EVERY_S = 0.5
SMALL_BATCH = 64
_first = operator.itemgetter(0)  # a stored event's id


class ObservedWriter:
    """Observers first (metrics, drift), then the real writer: the far side of the sink."""

    def __init__(
        self, writer: BatchWriter, metrics: MonitoringMetrics, watcher: DriftWatcher | None
    ) -> None:
        self.writer = writer
        self.metrics = metrics
        self.watcher = watcher
        self.name = writer.name
        self.batch_rows = writer.batch_rows
        self._observers = [metrics.observe] + ([watcher.observe] if watcher else [])
        # hashes of the batches observed lately: a batch the backend could not take is
        # sent again as it was, and must not be counted twice
        self._observed: deque[int] = deque(maxlen=64)
        self._opened = False
        self._last_batch = 0
        self._rendered_at = -float("inf")

    def open(self) -> None:
        # A backend that is down (a broker) must not stop the worker from starting:
        # observers still see every batch, and the writer is opened again with each
        # write until it answers (the server keeps the batches meanwhile).
        try:
            self.writer.open()
            self._opened = True
        except SinkUnavailable as exc:
            logger.warning("%s", exc)

    def write(self, events: Sequence[list[Any] | Mapping[str, Any]]) -> int:
        """Events as their fields in ``SERVED_FIELDS`` order (the server's wire form), or as
        mappings of them (``PredictionEvent``'s, by name), observed then stored.

        Raises:
            MonitoringError: an item is not a prediction event (the batch is refused).
        """
        self._last_batch = len(events)
        if not events:  # the server asking for the metrics only (ProcessWriter.refresh)
            return 0
        # each event's fields once, checked and typed: the store's row and the columns
        values = [served_values(e) for e in events]
        digest = hash(tuple(map(_first, values)))
        if digest not in self._observed:
            self._observe(served_columns_of_values(values))
            self._observed.append(digest)
        self._ensure_open()
        write_values = getattr(self.writer, "write_values", None)  # SQL: no row mapping
        if write_values is not None:
            return int(write_values(values))
        return self.writer.write([dict(zip(EVENT_COLUMNS, v, strict=True)) for v in values])

    def write_json(self, payload: bytes) -> int:
        """A batch as the server encoded it (``ProcessWriter.encode``): decoded once."""
        return self.write(orjson.loads(payload))

    def _ensure_open(self) -> None:
        if not self._opened:
            self.writer.open()  # SinkUnavailable: the server keeps the batch and retries
            self._opened = True

    def _observe(self, served: list[ServedColumns]) -> None:
        for observe in self._observers:
            try:
                observe(served)
            except Exception:  # an observer bug must not lose the batch
                logger.exception("event observer %r failed", observe)

    def extra(self) -> str | None:
        """The worker's metrics, sent back to the server with an answer (None: not now)."""
        now = time.monotonic()
        if self._last_batch >= SMALL_BATCH and now - self._rendered_at < RENDER_EVERY_S:
            return None
        self._rendered_at = now
        try:
            return self.metrics.render().decode()
        except Exception:  # never lose the answer to a batch over its metrics
            logger.exception("the monitoring worker's metrics could not be rendered")
            return None

    def after_answer(self) -> None:
        """Once the server has its answer: check the drift windows the batch closed."""
        if self.watcher is not None:
            self.watcher.check_pending()

    def close(self) -> None:
        try:
            if self.watcher is not None:
                self.watcher.close()
        finally:
            self.writer.close()


def open_worker(settings_json: str) -> ObservedWriter:
    """The worker side for a project's settings, as JSON (``ProcessWriter``'s factory).

    The server's settings are passed whole, so overrides given to it (``--set``,
    environment) hold in the worker too.
    """
    from shipyard.config import Settings
    from shipyard.monitoring.alerts import AlertDispatcher
    from shipyard.monitoring.monitor import registry_profiles
    from shipyard.monitoring.sinks import in_process_writer
    from shipyard.project import Project
    from shipyard.store.events import EventStore

    project = Project(Settings.model_validate_json(settings_json))
    spec = project.settings.monitoring
    metrics = MonitoringMetrics(process=False)
    watcher = DriftWatcher(
        spec,
        registry_profiles(project),
        metrics=metrics,
        alerts=AlertDispatcher(spec, EventStore(project.db)),
        threaded=False,  # checked between batches (after_answer): no GIL hand-offs
    )
    return ObservedWriter(in_process_writer(project.settings, project.db), metrics, watcher)
