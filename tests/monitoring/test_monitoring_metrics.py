"""MonitoringMetrics: per-feature summaries, output distribution, bounded labels, one /metrics."""

from __future__ import annotations

import numpy as np
import pytest
from monitoring_helpers import make_event
from prometheus_client.parser import text_string_to_metric_families

from shipyard.monitoring.events import EventSink, SinkStats
from shipyard.monitoring.metrics import QUANTILES, MonitoringMetrics
from shipyard.monitoring.window import served_columns


def _samples(metrics: MonitoringMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def test_feature_summaries_and_quantiles_follow_the_values() -> None:
    metrics = MonitoringMetrics(window=1000)
    events = [make_event(i) for i in range(1500)]
    events[0].inputs["area"] = np.array([np.nan], dtype=np.float32)
    for start in range(0, 1500, 100):
        metrics.observe(served_columns(events[start : start + 100]))
    got = _samples(metrics)
    labels = {"endpoint": "housing", "model_version": "housing:1", "feature": "area"}
    areas = np.array([float(e.inputs["area"][0]) for e in events])
    assert got[_key("shipyard_feature_value_count", **labels)] == 1499
    assert got[_key("shipyard_feature_value_sum", **labels)] == pytest.approx(
        np.nansum(areas), rel=1e-6
    )
    assert got[_key("shipyard_feature_missing_total", **labels)] == 1
    last = areas[-1000:]
    for q in QUANTILES:
        value = got[_key("shipyard_feature_quantile", **labels, quantile=f"{q:g}")]
        assert value == pytest.approx(np.quantile(last, q), rel=1e-9)
    out = {"endpoint": "housing", "model_version": "housing:1", "output": "prediction"}
    assert got[_key("shipyard_prediction_value_count", **out)] == 1500
    region = {"endpoint": "housing", "model_version": "housing:1", "feature": "region"}
    total = sum(
        got[_key("shipyard_feature_category_total", **region, category=c)]
        for c in ("north", "south", "east")
    )
    assert total == 1500


def test_labels_stay_bounded() -> None:
    events = []
    for i in range(50):
        event = make_event(i)
        event.inputs["region"] = np.array([f"r{i}"], dtype=object)
        events.append(event)
    few_categories = MonitoringMetrics(max_categories=3)
    few_categories.observe(served_columns(events))
    text = few_categories.render().decode()
    assert text.count("shipyard_feature_category_total{") == 4  # 3 named + (other)
    assert (
        'category="(other)",endpoint="housing",feature="region",model_version="housing:1"} 47.0'
        in text
    )
    assert all(e.request_id not in text for e in events)  # never a request id
    few_features = MonitoringMetrics(max_features=2)
    few_features.observe(served_columns(events))
    families = text_string_to_metric_families(few_features.render().decode())
    tracked = {
        s.labels["feature"]
        for f in families
        for s in f.samples
        if s.name == "shipyard_feature_value_count"
    }
    assert tracked == {"rooms", "area"}


def test_shadow_events_are_not_counted() -> None:
    metrics = MonitoringMetrics()
    metrics.observe(served_columns([make_event(1, shadow=True, variant="v2")]))
    assert "shipyard_feature_value_count{" not in metrics.render().decode()


def test_sink_and_process_collectors() -> None:
    metrics = MonitoringMetrics(sink_stats=lambda: SinkStats(10, 7, 1, 2, 0, 0, 3, None))
    got = _samples(metrics)
    assert got[_key("shipyard_events_total", result="emitted")] == 10
    assert got[_key("shipyard_events_total", result="dropped")] == 2
    assert got[_key("shipyard_events_retries_total")] == 3
    assert got[_key("shipyard_process_threads")] >= 1
    assert got[_key("shipyard_system_memory_available_bytes")] > 0
    assert _key("shipyard_process_cpu_utilization_ratio") in got


def test_metrics_as_a_sink_observer_match_the_events_written() -> None:
    from monitoring_helpers import MemoryWriter

    metrics = MonitoringMetrics()
    sink = EventSink(MemoryWriter(), observers=[metrics.observe], flush_interval_s=0.01).start()
    metrics.sink_stats = sink.stats
    for i in range(321):
        sink.emit(make_event(i))
    sink.flush(5)
    got = _samples(metrics)
    labels = {"endpoint": "housing", "model_version": "housing:1", "feature": "rooms"}
    assert got[_key("shipyard_feature_value_count", **labels)] == 321
    assert got[_key("shipyard_events_total", result="written")] == 321
    sink.close()
