"""Prometheus metrics of what the model sees and says: inputs, outputs, drift, events, process.

The server (``shipyard.serving.metrics``) already counts requests and their latency and
exports ``shipyard_process_*`` from prometheus_client's ProcessCollector; these add:

- ``shipyard_feature_value`` (summary: count and sum), ``shipyard_feature_quantile``
  (gauge over the last ``window`` values), ``shipyard_feature_missing_total``,
  ``shipyard_feature_category_total`` (the first ``max_categories`` categories seen,
  the rest as ``(other)``), each by endpoint, model_version and feature;
- ``shipyard_prediction_value`` / ``_quantile`` / ``shipyard_prediction_class_total``,
  the same for each output;
- ``shipyard_drift_statistic`` / ``shipyard_drift_pvalue`` / ``shipyard_drift_detected``
  from the last drift check, ``shipyard_alerts_total``;
- ``shipyard_events_total{result}`` and ``shipyard_events_queued`` from the event sink;
- ``shipyard_process_cpu_utilization_ratio``, ``shipyard_process_threads``,
  ``shipyard_system_memory_available_bytes`` (psutil).

Labels are bounded: endpoint, model_version (``name:version``), feature or output,
statistic, quantile; never request ids. Features beyond ``max_features`` per model
version are not tracked. Values are aggregated per batch in the event writer
thread; metric families are built only when scraped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.parser import text_string_to_metric_families

from shipyard.monitoring.events import SinkStats
from shipyard.monitoring.window import ServedColumns

if TYPE_CHECKING:
    from shipyard.monitoring.drift import DriftReport

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
OTHER = "(other)"


@dataclass
class _Series:
    """Running state of one feature (or output) of one endpoint and model version."""

    window: int
    count: int = 0
    total: float = 0.0
    missing: int = 0
    ring: np.ndarray | None = None
    filled: int = 0
    position: int = 0
    categories: dict[str, int] = field(default_factory=dict)

    def add_numbers(self, x: np.ndarray) -> None:
        present = x[np.isfinite(x)]
        self.missing += int(np.isnan(x).sum())
        self.count += int(present.size)
        self.total += float(present.sum())
        if self.ring is None:
            self.ring = np.empty(self.window)
        tail = present[-self.window :]
        end = self.position + tail.size
        if end <= self.window:
            self.ring[self.position : end] = tail
        else:
            split = self.window - self.position
            self.ring[self.position :] = tail[:split]
            self.ring[: end - self.window] = tail[split:]
        self.position = end % self.window
        self.filled = min(self.window, self.filled + tail.size)

    def add_labels(self, values: list[Any], max_categories: int) -> None:
        for value in values:
            if value is None or (isinstance(value, float) and value != value):
                self.missing += 1
                continue
            label = str(value)
            if label not in self.categories and len(self.categories) >= max_categories:
                label = OTHER
            self.categories[label] = self.categories.get(label, 0) + 1
            self.count += 1

    def quantiles(self) -> np.ndarray | None:
        if self.ring is None or not self.filled:
            return None
        return np.quantile(self.ring[: self.filled], QUANTILES)


class MonitoringMetrics:
    """The collectors, registered in ``registry`` (the server's, so one /metrics shows all).

    Args:
        registry: where to register; a new one when None (then use :meth:`render`).
        sink_stats: the event sink's ``stats`` method, for the events counters.
        window: how many recent values the quantile gauges are computed over.
        max_features: features (and outputs) tracked per model version.
        max_categories: categories counted by name per feature; the rest are ``(other)``.
        process: export this process's CPU, threads and memory (not in the worker).
        remote: the monitoring worker's metrics as Prometheus text; when given, the
            value and drift families are the worker's, not this object's.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        sink_stats: Callable[[], SinkStats] | None = None,
        window: int = 1024,
        max_features: int = 50,
        max_categories: int = 20,
        process: bool = True,
        remote: Callable[[], str | None] | None = None,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.sink_stats = sink_stats
        self.window = window
        self.max_features = max_features
        self.max_categories = max_categories
        self.process = process
        self.remote = remote
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str, str, str], _Series] = {}  # role, endpoint, version, name
        self._drift: dict[tuple[str, str, str, str], tuple[float, float | None]] = {}
        self._detected: dict[tuple[str, str, str], int] = {}
        self._alerts: dict[tuple[str, str], int] = {}
        self._process: Any = None
        self.collector = _Collector(self)
        self.registry.register(self.collector)

    # ------------------------------------------------------------------ observers
    def observe(self, batches: Sequence[ServedColumns]) -> None:
        """Fold a batch's served columns into the running summaries (an EventSink observer)."""
        with self._lock:
            for batch in batches:
                for role, columns in (("feature", batch.inputs), ("prediction", batch.outputs)):
                    for name, values in columns.items():
                        self._add(role, batch.endpoint, batch.model, name, values)

    def _add(self, role: str, endpoint: str, version: str, name: str, x: np.ndarray) -> None:
        key = (role, endpoint, version, name)
        series = self._series.get(key)
        if series is None:
            tracked = sum(1 for k in self._series if k[:3] == key[:3])
            if tracked >= self.max_features:
                return
            series = self._series[key] = _Series(self.window)
        if x.dtype.kind in "fiub":
            if x.ndim > 1:  # e.g. class probabilities: summarise the last column
                x = x.reshape(len(x), -1)[:, -1]
            series.add_numbers(x.astype(float, copy=False))
        else:
            series.add_labels(x.reshape(-1).tolist(), self.max_categories)

    def record_drift(self, report: DriftReport) -> None:
        """Expose the statistics and verdicts of the newest drift check."""
        with self._lock:
            for feature in (*report.features, *report.outputs):
                for stat in feature.statistics:
                    key = (report.endpoint, report.model, feature.feature, stat.name)
                    self._drift[key] = (stat.value, stat.adjusted_pvalue)
                self._detected[(report.endpoint, report.model, feature.feature)] = int(
                    feature.drifted
                )

    def record_alert(self, endpoint: str, kind: str) -> None:
        with self._lock:
            self._alerts[(endpoint, kind)] = self._alerts.get((endpoint, kind), 0) + 1

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)

    # ------------------------------------------------------------------ scrape
    def collect(self) -> Iterator[Metric]:
        if self.remote is None:
            with self._lock:
                yield from self._value_families()
                yield from self._drift_families()
        else:
            text = self.remote()
            if text:  # parsed only when scraped
                yield from text_string_to_metric_families(text)
        yield from self._event_families()
        if self.process:
            yield from self._process_families()

    def _value_families(self) -> Iterator[Metric]:
        for role, label in (("feature", "feature"), ("prediction", "output")):
            labels = ["endpoint", "model_version", label]
            noun = "input feature" if role == "feature" else "model output"
            values = SummaryMetricFamily(
                f"shipyard_{role}_value", f"Values of each {noun}.", labels=labels
            )
            quantiles = GaugeMetricFamily(
                f"shipyard_{role}_quantile",
                f"Quantiles of each numeric {noun} over its last {self.window} values.",
                labels=[*labels, "quantile"],
            )
            missing = CounterMetricFamily(
                f"shipyard_{role}_missing", f"Missing values of each {noun}.", labels=labels
            )
            cat_name = (
                "shipyard_feature_category" if role == "feature" else "shipyard_prediction_class"
            )
            categories = CounterMetricFamily(
                cat_name,
                f"Values of each categorical {noun}, by category.",
                labels=[*labels, "category"],
            )
            for (r, endpoint, version, name), s in self._series.items():
                if r != role:
                    continue
                key = [endpoint, version, name]
                values.add_metric(key, count_value=s.count, sum_value=s.total)
                missing.add_metric(key, s.missing)
                q = s.quantiles()
                if q is not None:
                    for level, v in zip(QUANTILES, q, strict=True):
                        quantiles.add_metric([*key, f"{level:g}"], float(v))
                for category, n in s.categories.items():
                    categories.add_metric([*key, category], n)
            yield from (values, quantiles, missing, categories)

    def _drift_families(self) -> Iterator[Metric]:
        labels = ["endpoint", "model_version", "feature", "statistic"]
        stat = GaugeMetricFamily(
            "shipyard_drift_statistic", "Drift statistic of the newest window.", labels=labels
        )
        pvalue = GaugeMetricFamily(
            "shipyard_drift_pvalue", "Adjusted p-value of the newest window's test.", labels=labels
        )
        for key, (value, p) in self._drift.items():
            stat.add_metric(list(key), value)
            if p is not None:
                pvalue.add_metric(list(key), p)
        detected = GaugeMetricFamily(
            "shipyard_drift_detected", "1 when the newest window drifted.",
            labels=["endpoint", "model_version", "feature"],
        )  # fmt: skip
        for feature_key, flag in self._detected.items():
            detected.add_metric(list(feature_key), flag)
        alerts = CounterMetricFamily(
            "shipyard_alerts", "Alerts raised.", labels=["endpoint", "kind"]
        )
        for alert_key, n in self._alerts.items():
            alerts.add_metric(list(alert_key), n)
        yield from (stat, pvalue, detected, alerts)

    def _event_families(self) -> Iterator[Metric]:
        if self.sink_stats is None:
            return
        s = self.sink_stats()
        events = CounterMetricFamily(
            "shipyard_events", "Prediction events by what became of them.", labels=["result"]
        )
        for result in ("emitted", "written", "duplicates", "dropped", "rejected"):
            events.add_metric([result], getattr(s, result))
        queued = GaugeMetricFamily(
            "shipyard_events_queued", "Prediction events waiting to be written."
        )
        queued.add_metric([], s.queued)
        retries = CounterMetricFamily(
            "shipyard_events_retries", "Failed event writes that were retried."
        )
        retries.add_metric([], s.retries)
        yield from (events, queued, retries)

    def _process_families(self) -> Iterator[Metric]:
        sample = process_sample(self)
        if sample is None:
            return
        cpu = GaugeMetricFamily(
            "shipyard_process_cpu_utilization_ratio",
            "CPU used by this process since the previous scrape, in cores (1.0 = one core).",
        )
        cpu.add_metric([], sample["cpu_ratio"])
        threads = GaugeMetricFamily("shipyard_process_threads", "Threads of this process.")
        threads.add_metric([], sample["threads"])
        available = GaugeMetricFamily(
            "shipyard_system_memory_available_bytes", "Memory available to new processes, in bytes."
        )
        available.add_metric([], sample["system_available_bytes"])
        yield from (cpu, threads, available)


def process_sample(holder: Any) -> dict[str, float] | None:
    """CPU (since the previous sample), memory and threads of this process, by psutil.

    ``holder`` keeps the psutil Process between calls (its CPU counter is relative).
    """
    try:
        import psutil

        if getattr(holder, "_process", None) is None:
            holder._process = psutil.Process()
            holder._process.cpu_percent(None)
        proc = holder._process
        with proc.oneshot():
            return {
                "cpu_ratio": proc.cpu_percent(None) / 100.0,
                "rss_bytes": float(proc.memory_info().rss),
                "threads": float(proc.num_threads()),
                "system_available_bytes": float(psutil.virtual_memory().available),
            }
    except Exception:  # psutil missing or the platform refuses: no process metrics
        return None


class _Collector:
    def __init__(self, metrics: MonitoringMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return self.metrics.collect()

    def describe(self) -> list[Metric]:
        return []  # built at scrape time; an empty describe skips the registration-time collect
