"""The monitoring worker's side of the sink, and the columns its observers receive."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from monitoring_helpers import MemoryWriter, make_event, wire

from shipyard.config import MonitoringSpec
from shipyard.errors import MonitoringError
from shipyard.monitoring.events import EventSink, SinkUnavailable, event_row
from shipyard.monitoring.metrics import MonitoringMetrics
from shipyard.monitoring.offload import ProcessWriter, _encode_sliced
from shipyard.monitoring.watch import DriftWatcher
from shipyard.monitoring.window import served_columns, served_columns_of_values
from shipyard.monitoring.worker import ObservedWriter
from shipyard.store.events import SERVED_FIELDS, served_values


def _multi_row_event(i: int, rows: int) -> object:
    event = make_event(i)
    for columns in (event.inputs, event.outputs):
        for name, values in columns.items():
            columns[name] = np.repeat(values, rows)
    return event


def test_columns_from_events_as_json_equal_the_columns_from_the_event_objects() -> None:
    events = [make_event(i) for i in range(20)] + [_multi_row_event(20, 3)]
    events[0].inputs["area"] = np.array([np.nan], dtype=np.float32)
    events.append(make_event(30, shadow=True, variant="v2"))  # not what the endpoint served
    decoded = orjson.loads(wire(events))
    [from_rows] = served_columns_of_values([served_values(e) for e in decoded])
    [from_events] = served_columns(events)
    assert from_rows.rows == from_events.rows == 23
    assert from_rows.starts.tolist() == from_events.starts.tolist() == list(range(21))
    np.testing.assert_array_equal(from_rows.times, from_events.times)
    for name in ("rooms", "area"):
        np.testing.assert_allclose(from_rows.inputs[name], from_events.inputs[name], rtol=1e-6)
    assert np.isnan(from_rows.inputs["area"][0])  # null came back as NaN
    assert from_rows.inputs["region"].dtype == object
    assert list(from_rows.inputs["region"]) == list(from_events.inputs["region"])


@pytest.mark.parametrize("rows", [1, 3])
def test_events_of_as_many_rows_each_give_the_same_columns_read_a_name_at_a_time(
    rows: int,
) -> None:
    # every event the same names and rows: each column is read in one pass
    events = [_multi_row_event(i, rows) for i in range(12)]
    events[3].inputs["area"] = np.array([np.nan] * rows, dtype=np.float32)
    for i, event in enumerate(events):  # a 2-D output: probabilities, a row of two each
        event.outputs["proba"] = np.tile([0.25 * (i % 4), 1 - 0.25 * (i % 4)], (rows, 1))
    events[5] = dataclasses.replace(events[5], model_version=2)  # another group, same batch
    decoded = orjson.loads(wire(events))
    from_rows = served_columns_of_values([served_values(e) for e in decoded])
    from_events = served_columns(events)
    assert [c.model_version for c in from_rows] == [c.model_version for c in from_events] == [1, 2]
    for got, want in zip(from_rows, from_events, strict=True):
        assert (got.rows, got.events) == (want.rows, want.events)
        assert got.starts.tolist() == want.starts.tolist()
        np.testing.assert_array_equal(got.times, want.times)
        np.testing.assert_allclose(got.inputs["area"], want.inputs["area"], rtol=1e-6)
        assert got.inputs["area"].dtype == float and got.inputs["region"].dtype == object
        assert list(got.inputs["region"]) == list(want.inputs["region"])
        assert got.outputs["proba"].shape == want.outputs["proba"].shape == (got.rows, 2)
        np.testing.assert_allclose(got.outputs["proba"], want.outputs["proba"])
    assert np.isnan(from_rows[0].inputs["area"][3 * rows : 4 * rows]).all()


def test_split_keeps_each_event_where_its_first_row_is() -> None:
    [batch] = served_columns([make_event(0), _multi_row_event(1, 4), make_event(2)])
    head, tail = batch.split(3)  # inside the second event, which starts at row 1
    assert (head.rows, head.events, tail.rows, tail.events) == (3, 2, 3, 1)
    np.testing.assert_array_equal(
        np.concatenate([head.inputs["area"], tail.inputs["area"]]), batch.inputs["area"]
    )
    assert tail.starts.tolist() == [2] and tail.times.tolist() == [batch.times[2]]


def test_drift_windows_close_at_exactly_the_configured_rows() -> None:
    reports = []
    watcher = DriftWatcher(
        MonitoringSpec(drift_window=50), lambda n, v: None, on_report=reports.append
    )
    events = [_multi_row_event(i, 7) for i in range(30)]  # 210 rows, windows cut requests
    for start in range(0, 30, 4):
        watcher.observe(served_columns(events[start : start + 4]))
    watcher.close()
    assert [r.window.rows for r in reports] == [50, 50, 50, 50]
    assert sum(r.window.events for r in reports) == 29  # the 30th starts in the open window


def test_unthreaded_the_windows_a_batch_closes_wait_for_check_pending_and_none_is_skipped() -> None:
    reports = []
    watcher = DriftWatcher(
        MonitoringSpec(drift_window=10), lambda n, v: None, on_report=reports.append, threaded=False
    )
    events = [make_event(i) for i in range(95)]
    watcher.observe(served_columns(events))  # one batch closes nine windows
    assert reports == []  # nothing checked on the observer's path
    assert watcher.check_pending() == 9 and len(reports) == 9 and watcher.skipped == 0
    assert watcher.check_pending() == 0
    watcher.observe(served_columns([make_event(i) for i in range(95, 105)]))
    watcher.close()  # what is closed is checked on close
    assert [r.window.rows for r in reports] == [10] * 10


def test_a_batch_sent_again_after_a_failed_write_is_observed_once() -> None:
    memory = MemoryWriter(down=True)
    metrics = MonitoringMetrics(process=False)
    worker = ObservedWriter(memory, metrics, None)
    payload = wire([make_event(i) for i in range(40)])
    with pytest.raises(SinkUnavailable):
        worker.write_json(payload)
    memory.down = False
    assert worker.write_json(payload) == 40  # the retry: stored, not counted again
    text = worker.extra()
    assert text is not None
    assert (
        'shipyard_feature_value_count{endpoint="housing",feature="area",model_version="housing:1"} 40.0'
        in text
    )
    assert "shipyard_process_cpu_utilization_ratio" not in text  # the server reports its own


@pytest.mark.parametrize("encode", [wire, _encode_sliced], ids=["in-order", "by-name"])
def test_events_sent_as_they_are_become_the_rows_event_row_makes(encode: Any) -> None:
    # the server's sink hands the worker events, each its fields in order (encoded at
    # emit); events given as mappings of their fields by name are read the same
    from shipyard.serving import PredictionEvent

    served = PredictionEvent("r1", 1000.5, "housing", "housing", 1, "default",
                             {"area": np.array([120.0])}, {"prediction": np.array([3.0])},
                             0.0021, key="user-7")  # fmt: skip
    events = [served, make_event(2, shadow=True, variant="v2", request_id="r2")]
    memory = MemoryWriter()
    worker = ObservedWriter(memory, MonitoringMetrics(process=False), None)
    payload = encode(events)
    assert isinstance(orjson.loads(payload)[0], list if encode is wire else dict)
    assert worker.write_json(payload) == 2
    expected = orjson.loads(_encode_sliced([event_row(e) for e in events]))
    assert memory.rows == expected
    assert [r["request_id"] for r in memory.rows] == ["r1", "r2~v2"]
    assert memory.rows[0]["latency_ms"] == pytest.approx(2.1)


def test_the_worker_refuses_a_batch_that_holds_anything_but_events() -> None:
    memory = MemoryWriter()
    worker = ObservedWriter(memory, MonitoringMetrics(process=False), None)
    rows = [event_row(make_event(i)) for i in range(3)]  # stored rows, not events
    with pytest.raises(MonitoringError, match="not a prediction event: KeyError: 'time'"):
        worker.write_json(_encode_sliced(rows))
    broken = orjson.loads(wire([make_event(1)]))
    broken[0][SERVED_FIELDS.index("model_version")] = "one"
    # answered as a refusal; the sink then isolates the event
    with pytest.raises(MonitoringError, match="not a prediction event: ValueError"):
        worker.write(broken)
    assert memory.rows == []


def test_the_worker_stores_in_sqlite_the_rows_the_server_would_store(tmp_path: Path) -> None:
    from shipyard.monitoring.sinks import SqlWriter
    from shipyard.store.db import Database
    from shipyard.store.events import EventStore

    events = [make_event(i) for i in range(5)] + [make_event(9, shadow=True, variant="v2")]
    events[0].inputs["area"] = np.array([np.nan], dtype=np.float32)
    by_worker, by_server = (Database(f"sqlite:///{tmp_path / n}.db") for n in ("w", "s"))
    worker = ObservedWriter(SqlWriter(by_worker), MonitoringMetrics(process=False), None)
    assert worker.write_json(wire(events)) == 6
    assert worker.write_json(wire(events)) == 0  # sent again: stored once
    EventStore(by_server).write([event_row(e) for e in events])
    stored = [EventStore(db).recent("housing", shadow=None) for db in (by_worker, by_server)]
    assert stored[0] == stored[1] and len(stored[0]) == 6


def test_a_backend_down_at_start_leaves_the_worker_up_and_observing() -> None:
    memory = MemoryWriter(down=True)
    metrics = MonitoringMetrics(process=False)
    worker = ObservedWriter(memory, metrics, None)
    worker.open()  # the broker is down: the worker starts anyway
    payload = wire([make_event(i) for i in range(10)])
    with pytest.raises(SinkUnavailable):
        worker.write_json(payload)
    assert "shipyard_feature_value_count" in (worker.extra() or "")  # observed meanwhile
    memory.down = False
    assert worker.write_json(payload) == 10 and len(memory.rows) == 10


def test_under_load_the_worker_sends_its_metrics_at_most_so_often_and_again_when_idle() -> None:
    worker = ObservedWriter(MemoryWriter(), MonitoringMetrics(process=False), None)
    count = (
        'shipyard_feature_value_count{endpoint="housing",feature="area",model_version="housing:1"}'
    )

    def batch(start: int) -> bytes:
        return wire([make_event(i) for i in range(start, start + 100)])

    assert worker.write_json(batch(0)) == 100
    assert f"{count} 100.0" in (worker.extra() or "")  # the first answer carries them
    assert worker.write_json(batch(100)) == 100
    assert worker.extra() is None  # a big batch right after: not rendered again yet
    assert worker.write_json(b"[]") == 0  # the sink's idle refresh asks for them
    assert f"{count} 200.0" in (worker.extra() or "")


class _EncodedWriter(MemoryWriter):
    """Takes events encoded at emit (an EncodedBatch, read event by event), as the
    monitoring worker's ProcessWriter does."""

    takes_events = True
    encode = staticmethod(ProcessWriter.encode)
    refreshes = 0

    def write(self, rows: Sequence[Any]) -> int:
        self.rows.extend(orjson.loads(r) if isinstance(r, bytes) else r for r in rows)
        return len(rows)

    def refresh(self) -> None:
        self.refreshes += 1


def test_events_are_encoded_at_emit_for_a_writer_that_takes_them_encoded() -> None:
    writer = _EncodedWriter()
    sink = EventSink(writer, flush_interval_s=0.01).start()
    events = [make_event(i) for i in range(5)]
    for event in events:
        sink.emit(event)
    sink.emit(object())  # not an event: counted, never queued, flush does not wait for it
    assert sink.flush(10)
    # each event as its fields in order; those its type lacks (status, key) as null
    first = dict(zip(SERVED_FIELDS, writer.rows[0], strict=True))
    assert [row[0] for row in writer.rows] == [e.request_id for e in events]
    assert first["latency_s"] == events[0].latency_s and first["status"] is None
    assert first["inputs"]["region"] == events[0].inputs["region"].tolist()
    time.sleep(0.3)  # idle: the sink lets the writer catch up (the worker's metrics)
    stats = sink.close(5)
    assert (stats.emitted, stats.written, stats.rejected, stats.dropped) == (6, 5, 1, 0)
    assert writer.refreshes >= 1


def test_observers_in_this_process_get_event_objects_not_bytes() -> None:
    writer, seen = _EncodedWriter(), []
    sink = EventSink(writer, flush_interval_s=0.01, observers=[seen.extend]).start()
    sink.emit(make_event(1))
    assert sink.flush(10)
    sink.close(5)
    assert [batch.rows for batch in seen] == [1]
    assert [type(row) for row in writer.rows] == [type(make_event(1))]  # the writer encodes


@pytest.mark.parametrize("overflow", ["drop_new", "drop_oldest"])
def test_a_full_queue_of_encoded_events_keeps_to_its_policy(overflow: str) -> None:
    writer = _EncodedWriter()
    # a batch never fills and its wait is long: nothing leaves the queue until the flush
    sink = EventSink(
        writer, queue_size=10, overflow=overflow, batch_size=100, flush_interval_s=60
    ).start()
    ids = [f"r{i}" for i in range(25)]
    for i, rid in enumerate(ids):
        sink.emit(make_event(i, request_id=rid))
    stats = sink.stats()
    assert (stats.emitted, stats.dropped, stats.queued) == (25, 15, 10)
    assert sink.flush(10)
    sink.close(5)
    assert [row[0] for row in writer.rows] == (ids[:10] if overflow == "drop_new" else ids[15:])
