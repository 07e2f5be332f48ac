"""Encoded events held end to end: the batch is the JSON array the worker reads."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import orjson
import pytest
from monitoring_helpers import make_event

from shipyard.monitoring.encoded import EncodedBatch, EncodedQueue
from shipyard.monitoring.offload import ProcessWriter


def _encoded(n: int) -> list[bytes]:
    return [ProcessWriter.encode(make_event(i)) for i in range(n)]


def _batch(items: list[bytes]) -> EncodedBatch:
    batch = EncodedBatch()
    for item in items:
        batch.add(item)
    return batch


def test_a_batch_is_its_events_as_one_json_array_and_a_sequence_of_each() -> None:
    items = _encoded(5)
    batch = _batch(items)
    assert orjson.loads(batch.json()) == [orjson.loads(i) for i in items]
    assert len(batch) == 5 and list(batch) == items
    assert batch[-1] == items[4] and batch[1:3].json() == b"[" + b",".join(items[1:3]) + b"]"
    assert batch[0:5] is batch  # the whole batch is not copied
    assert EncodedBatch().json() == b"[]" and orjson.loads(batch[2:2].json()) == []
    with pytest.raises(IndexError):
        batch[5]
    with pytest.raises(ValueError, match="step 1"):
        batch[::2]


def test_events_taken_from_the_front_leave_the_rest_whole() -> None:
    items = _encoded(6)
    batch = _batch(items)
    assert batch.popleft() == items[0]
    head = batch.cut(2)
    assert list(head) == items[1:3] and list(batch) == items[3:]
    assert orjson.loads(batch.json()) == [orjson.loads(i) for i in items[3:]]
    with pytest.raises(ValueError, match="cannot cut 3"):
        batch.cut(3)  # all of it: take the batch itself
    for _ in range(3):
        batch.popleft()
    with pytest.raises(IndexError):
        batch.popleft()


def test_the_queue_hands_out_chunks_of_at_most_its_chunk_size_in_order() -> None:
    queue, items = EncodedQueue(4), _encoded(10)
    for item in items:
        queue.append(item)
    assert len(queue) == 10
    assert queue.popleft() == items[0]  # a full queue evicting its oldest
    first = queue.take(4)
    assert list(first) == items[1:4]  # the first chunk, short of the evicted one
    assert list(queue.take(2)) == items[4:6] and len(queue) == 4  # cut from a chunk
    assert list(queue.take(100)) == items[6:8] and list(queue.take(100)) == items[8:]
    assert len(queue) == 0 and len(queue.take(4)) == 0
    with pytest.raises(IndexError):
        queue.popleft()


def test_an_offer_is_refused_at_the_limit_and_never_lands_in_a_taken_chunk() -> None:
    queue, items = EncodedQueue(2), _encoded(5)
    assert [queue.offer(i, 3) for i in items[:4]] == [1, 2, 3, 0]  # 0: full, not queued
    assert len(queue) == 3
    taken = queue.take(2)
    assert queue.offer(items[3], 3) == 2  # onto the chunk that holds items[2]
    assert list(taken) == items[:2] and list(queue.take(2)) == items[2:4]
    last = queue.take(2)  # empty: the queue then starts a chunk of its own
    assert queue.offer(items[4], 3) == 1 and len(last) == 0
    assert orjson.loads(queue.take(2).json()) == [orjson.loads(items[4])]


def test_appends_from_many_threads_all_arrive_once() -> None:
    queue, taken = EncodedQueue(64), []
    items = _encoded(50)

    def produce(offset: int) -> None:
        for item in items:
            queue.append(item[:-1] + b",%d]" % offset)  # the thread after the fields

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads) or len(queue):
        taken.extend(orjson.loads(queue.take(64).json()))
    for thread in threads:
        thread.join()
    assert len(taken) == 200
    for t in range(4):  # each thread's events in the order it sent them
        ids = [e[0] for e in taken if e[-1] == t]
        assert ids == [orjson.loads(i)[0] for i in items]


_PROBE = '''
import gc

import orjson


class Probe:
    """Answers a batch with its events' count, or -1 if a collection could start."""

    name = "probe"
    batch_rows = None

    def open(self):
        pass

    def write_json(self, payload):
        return -1 if gc.isenabled() else len(orjson.loads(payload))

    def close(self):
        pass
'''


def test_the_worker_process_gets_the_batch_whole_and_decodes_it_without_collections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "gc_probe.py").write_text(_PROBE, encoding="utf-8")
    path = [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path))
    batch = _batch(_encoded(10))
    writer = ProcessWriter("gc_probe:Probe", name="probe", takes_events=True)
    try:
        assert writer.write(batch) == 10
        assert writer.write(batch[3:]) == 7
    finally:
        writer.close()
