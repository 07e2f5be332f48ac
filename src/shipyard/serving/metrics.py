"""Prometheus metrics for one server: requests, latency, queueing, batches, process CPU/RAM.

Each app owns its own registry, so several apps (tests, benchmarks) never collide.
Labels never carry request or user ids; ``model_version`` is ``name:version``.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from shipyard.serving.batching import BatchObserver

LATENCY_BUCKETS = (
    0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServingMetrics:
    """The server's metrics, with label children cached for the request path."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(namespace="shipyard", registry=self.registry)
        self.requests = Counter(
            "shipyard_inference_requests",
            "Inference requests answered, by endpoint, model version, variant and HTTP code.",
            ["endpoint", "model_version", "variant", "code"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "shipyard_inference_request_duration_seconds",
            "Time from request arrival to response, in seconds.",
            ["endpoint", "model_version", "variant"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue = Histogram(
            "shipyard_inference_queue_duration_seconds",
            "Time a request waited for its batch to start, in seconds.",
            ["model_version"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "shipyard_inference_batch_size",
            "Rows predicted per model call.",
            ["model_version"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "shipyard_inference_requests_in_flight",
            "Inference requests being handled now.",
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, str, int], tuple[Counter, Histogram]] = {}

    def record(
        self, endpoint: str, model_version: str, variant: str, code: int, seconds: float
    ) -> None:
        """Count one answered request and its duration."""
        key = (endpoint, model_version, variant, code)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(endpoint, model_version, variant, str(code)),
                self.duration.labels(endpoint, model_version, variant),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def batch_observer(self, model_version: str) -> BatchObserver:
        """A callback for one model version's batcher."""
        size = self.batch_size.labels(model_version)
        queue = self.queue.labels(model_version)

        def observe(rows: int, waits: list[float]) -> None:
            size.observe(rows)
            for wait in waits:
                queue.observe(wait)

        return observe

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
