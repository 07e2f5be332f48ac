"""EventSink: the bounded queue, overflow policies, retries, flush and close."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from monitoring_helpers import MemoryWriter, make_event

from shipyard.errors import MonitoringError
from shipyard.monitoring.events import EventSink, event_row
from shipyard.monitoring.window import ServedColumns
from shipyard.store.events import MAX_ID, event_id


def _balanced(sink: EventSink) -> bool:
    s = sink.stats()
    return s.emitted == s.written + s.duplicates + s.dropped + s.rejected + s.queued


def test_block_policy_writes_every_event_through_a_slow_writer() -> None:
    writer = MemoryWriter(delay_s=0.01)
    sink = EventSink(writer, queue_size=50, overflow="block", batch_size=20, flush_interval_s=0.01)
    with sink:
        for i in range(500):
            sink.emit(make_event(i))
        assert sink.flush(30)
    stats = sink.stats()
    assert stats.emitted == stats.written == len(writer.rows) == 500
    assert stats.dropped == 0


def test_drop_new_counts_what_did_not_fit() -> None:
    writer = MemoryWriter(down=True)
    sink = EventSink(writer, queue_size=10, overflow="drop_new", flush_interval_s=0.01).start()
    for i in range(25):
        sink.emit(make_event(i))
    stats = sink.stats()
    assert stats.emitted == 25
    assert stats.dropped == 15
    assert stats.queued == 10
    sink.close(timeout=0.2)
    assert sink.stats().dropped == 25  # the queued ten could not be written before close
    assert _balanced(sink)


def test_drop_oldest_keeps_the_newest_events() -> None:
    writer = MemoryWriter(down=True)
    sink = EventSink(writer, queue_size=10, overflow="drop_oldest", flush_interval_s=0.01)
    ids = [f"r{i}" for i in range(25)]
    for i, rid in enumerate(ids):
        sink.emit(make_event(i, request_id=rid))
    assert sink.stats().dropped == 15
    writer.down = False
    sink.start()
    assert sink.flush(10)
    sink.close()
    assert [r["request_id"] for r in writer.rows] == ids[15:]


def test_unavailable_backend_is_retried_until_it_returns() -> None:
    writer = MemoryWriter(down=True)
    sink = EventSink(writer, flush_interval_s=0.01, max_backoff_s=0.05).start()
    for i in range(100):
        sink.emit(make_event(i))
    assert not sink.flush(0.3)
    assert sink.stats().retries > 0
    writer.down = False
    assert sink.flush(10)
    stats = sink.close()
    assert stats.written == 100 and stats.dropped == 0 and len(writer.rows) == 100


def test_refused_rows_are_isolated_and_the_rest_written() -> None:
    writer = MemoryWriter(refuse={"bad-1", "bad-2"})
    sink = EventSink(writer, flush_interval_s=0.05, batch_size=64).start()
    for i in range(60):
        rid = "bad-1" if i == 7 else "bad-2" if i == 41 else None
        sink.emit(make_event(i, request_id=rid))
    assert sink.flush(10)
    stats = sink.close()
    assert stats.rejected == 2
    assert stats.written == 58
    assert "refused row" in (stats.last_error or "")


def test_emit_never_raises_and_counts_a_malformed_event() -> None:
    writer = MemoryWriter()
    with EventSink(writer, flush_interval_s=0.01) as sink:
        sink.emit(object())  # type: ignore[arg-type]
        sink.emit(make_event(1))
        assert sink.flush(5)
    stats = sink.stats()
    assert (stats.rejected, stats.written) == (1, 1)


def test_close_writes_what_is_queued_and_later_emits_are_dropped() -> None:
    writer = MemoryWriter(delay_s=0.002)
    sink = EventSink(writer, batch_size=10, flush_interval_s=1.0).start()
    for i in range(200):
        sink.emit(make_event(i))
    stats = sink.close(timeout=30)
    assert stats.written == 200
    sink.emit(make_event(999))
    assert sink.stats().dropped == 1
    assert _balanced(sink)


def test_block_policy_gives_up_after_its_timeout_and_counts() -> None:
    sink = EventSink(MemoryWriter(down=True), queue_size=2, block_timeout_s=0.05)
    started = time.perf_counter()
    for i in range(4):
        sink.emit(make_event(i))
    assert time.perf_counter() - started >= 0.1
    assert sink.stats().dropped == 2
    sink.close(timeout=0.1)


def test_emit_is_safe_from_many_threads() -> None:
    writer = MemoryWriter()
    sink = EventSink(writer, flush_interval_s=0.01).start()

    def produce(k: int) -> None:
        for i in range(250):
            sink.emit(make_event(k * 1000 + i))

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sink.close().written == 2000


def test_observers_see_every_row_even_one_that_raises() -> None:
    seen: list[int] = []

    def broken(batches: object) -> None:
        raise RuntimeError("observer bug")

    def count(batches: list[ServedColumns]) -> None:
        seen.append(sum(b.rows for b in batches))

    with EventSink(MemoryWriter(), observers=[broken, count]) as sink:
        for i in range(300):
            sink.emit(make_event(i))
        sink.flush(5)
    assert sum(seen) == 300
    assert sink.stats().written == 300


def test_event_row_maps_shadow_and_long_ids_to_stored_ids() -> None:
    shadow = event_row(make_event(1, request_id="abc", shadow=True, variant="v2"))
    assert shadow["request_id"] == "abc~v2" and shadow["shadow"] is True
    long_id = "x" * 128
    row = event_row(make_event(2, request_id=long_id))
    assert len(row["request_id"]) <= MAX_ID
    assert row["request_id"] == event_id(long_id) != event_id("x" * 127)
    assert row["latency_ms"] == pytest.approx(2.0)
    assert isinstance(row["inputs"]["area"], np.ndarray)


def test_unknown_overflow_policy_is_refused() -> None:
    with pytest.raises(MonitoringError, match="overflow policy 'spill'"):
        EventSink(MemoryWriter(), overflow="spill")  # type: ignore[arg-type]


def test_a_full_batch_is_written_without_waiting_out_the_flush_interval() -> None:
    writer = MemoryWriter()
    sink = EventSink(writer, batch_size=10, flush_interval_s=60.0).start()
    for i in range(10):
        sink.emit(make_event(i))
    deadline = time.monotonic() + 10
    while sink.stats().written < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sink.stats().written == 10  # the writer waits on one wake, not a poll
    sink.emit(make_event(10))  # a lone event waits for its interval, or a flush
    assert sink.flush(10) and sink.stats().written == 11
    sink.close()
