"""Online drift: served rows gathered into windows, each full window checked off the writer's path.

``DriftWatcher.observe`` (an EventSink observer) appends each batch's inputs and
outputs to its endpoint + model version's open window; a window closes after
``drift_window`` rows (or ``drift_window_s`` seconds, when set) and is checked: the
DriftDetector runs, the drift metrics are updated and alerts raised. The first window
of a model version is its output baseline. A checker that falls behind skips windows
(counted in ``skipped``) rather than holding memory or the writer.

Where the check runs is the caller's choice. In the server's process (``threaded``,
the default) one checker thread takes the closed windows, so the sink's writer thread
never waits on a check. The monitoring worker has no request path to protect: it runs
the closed windows itself once it has answered a batch (``check_pending``), because a
second thread would take the GIL from its ``executemany`` at every row (measured:
1-1.5 us per event of hand-offs, on top of the checks).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shipyard.config import MonitoringSpec
from shipyard.data.profile import Profile
from shipyard.monitoring.alerts import AlertDispatcher, alerts_from_report, report_link
from shipyard.monitoring.drift import DriftDetector, DriftReport
from shipyard.monitoring.metrics import MonitoringMetrics
from shipyard.monitoring.window import ServedColumns, Window, concat_values

logger = logging.getLogger("shipyard.monitoring")

ProfileLookup = Callable[[str, int], Profile | None]
_PENDING = 4  # windows waiting for the checker at most


@dataclass
class _OpenWindow:
    started: float
    parts: list[ServedColumns] = field(default_factory=list)
    rows: int = 0

    def add(self, batch: ServedColumns) -> None:
        self.parts.append(batch)
        self.rows += batch.rows

    def close(self) -> Window:
        parts = [p for p in self.parts if p.events]

        def columns(pick: Callable[[ServedColumns], Mapping[str, np.ndarray]]) -> dict[str, Any]:
            names = dict.fromkeys(name for p in parts for name in pick(p))
            return {n: concat_values([pick(p)[n] for p in parts if n in pick(p)]) for n in names}

        return Window(
            inputs=columns(lambda p: p.inputs),
            outputs=columns(lambda p: p.outputs),
            events=sum(p.events for p in parts),
            rows=self.rows,
            start=float(parts[0].times[0]) if parts else None,
            end=float(parts[-1].times[-1]) if parts else None,
        )


class DriftWatcher:
    """Checks every full window of every endpoint's model version against its reference.

    Args:
        spec: window size, thresholds, correction.
        profiles: ``(model name, version) -> Profile`` or None when the version has none.
        metrics: updated with each report (optional).
        alerts: raises an alert per statistic beyond its threshold (optional).
        on_report: called with each report (optional; tests, dashboards).
        threaded: check windows in a thread of its own; False leaves them to
            :meth:`check_pending`, which the owner calls when it has time.
    """

    def __init__(
        self,
        spec: MonitoringSpec,
        profiles: ProfileLookup,
        *,
        metrics: MonitoringMetrics | None = None,
        alerts: AlertDispatcher | None = None,
        on_report: Callable[[DriftReport], None] | None = None,
        threaded: bool = True,
    ) -> None:
        self.spec = spec
        self.profiles = profiles
        self.metrics = metrics
        self.alerts = alerts
        self.on_report = on_report
        self.reports: deque[DriftReport] = deque(maxlen=100)
        self.skipped = 0
        self._open: dict[tuple[str, str, int], _OpenWindow] = {}
        self._baseline: dict[tuple[str, str, int], dict[str, np.ndarray]] = {}
        self._detectors: dict[tuple[str, int], DriftDetector] = {}
        # unthreaded, every window a batch closes waits for check_pending: none is skipped
        self._queue: queue.Queue[tuple[tuple[str, str, int], Window] | None] = queue.Queue(
            _PENDING if threaded else 0
        )
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._run, name="shipyard-drift", daemon=True)
            self._thread.start()

    def observe(self, batches: Sequence[ServedColumns]) -> None:
        """Add a batch's served rows to their open windows (an EventSink observer).

        A window by count closes at exactly ``drift_window`` rows: a batch that crosses
        the boundary is split there (at an event's first row).
        """
        now = time.monotonic()
        size = self.spec.drift_window
        for batch in batches:
            key = (batch.endpoint, batch.model_name, batch.model_version)
            while batch.rows:
                window = self._open.get(key)
                if window is None:
                    window = self._open[key] = _OpenWindow(started=now)
                need = size - window.rows
                if batch.rows < need:
                    window.add(batch)
                    break
                head, batch = batch.split(need)
                window.add(head)
                self._close(key)
        if self.spec.drift_window_s is not None:
            for key, window in list(self._open.items()):
                if window.rows and now - window.started >= self.spec.drift_window_s:
                    self._close(key)

    def _close(self, key: tuple[str, str, int]) -> None:
        window = self._open.pop(key).close()
        try:
            self._queue.put_nowait((key, window))
        except queue.Full:
            self.skipped += 1
            logger.warning("drift checker is behind; skipped a window of %s", key[0])

    def check_pending(self) -> int:
        """Check the windows closed since the last call, here (``threaded=False``); how many."""
        done = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return done
            if item is not None:
                self._check_logged(*item)
                done += 1

    def close(self, timeout: float = 10.0) -> None:
        """Stop checking once the windows already closed are checked."""
        if self._thread is None:
            self.check_pending()
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    # ------------------------------------------------------------------ checking
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._check_logged(*item)

    def _check_logged(self, key: tuple[str, str, int], window: Window) -> None:
        try:
            self._check(key, window)
        except Exception:
            logger.exception("drift check of %s failed", key[0])

    def _check(self, key: tuple[str, str, int], window: Window) -> None:
        endpoint, name, version = key
        baseline = self._baseline.get(key)
        if baseline is None:
            self._baseline[key] = dict(window.outputs)
        report = self._detector(name, version).check(
            window, endpoint=endpoint, model=f"{name}:{version}", output_reference=baseline
        )
        self.reports.append(report)
        if self.metrics is not None:
            self.metrics.record_drift(report)
        if self.alerts is not None:
            for delivery in self.alerts.send(
                alerts_from_report(report, link=report_link(self.spec, endpoint))
            ):
                if delivery.raised and self.metrics is not None:
                    self.metrics.record_alert(endpoint, delivery.alert.kind)
        if self.on_report is not None:
            self.on_report(report)

    def _detector(self, name: str, version: int) -> DriftDetector:
        detector = self._detectors.get((name, version))
        if detector is None:
            profile = self._profile(name, version)
            detector = self._detectors[(name, version)] = DriftDetector(profile, self.spec)
        return detector

    def _profile(self, name: str, version: int) -> Profile | None:
        try:
            profile = self.profiles(name, version)
        except Exception as exc:
            logger.warning(
                "reference profile of %s:%s is missing (%s); input drift is not checked",
                name,
                version,
                exc,
            )
            return None
        if profile is None:
            logger.warning(
                "%s:%s has no reference profile; input drift is not checked", name, version
            )
        return profile


def no_profiles(name: str, version: int) -> Any:
    """A ProfileLookup that knows no profile (outputs are still checked)."""
    return None
