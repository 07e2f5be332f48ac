"""A broker that is down: events are buffered and flushed when it comes up, or counted as dropped.

The brokers here are real redis-server and nats-server processes started on a free port
after the events were emitted.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from monitoring_helpers import make_event

from shipyard.monitoring import EventSink


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError("broker did not start")


@contextlib.contextmanager
def _broker(cmd: list[str], port: int) -> Iterator[None]:
    if shutil.which(cmd[0]) is None:
        pytest.skip(f"{cmd[0]} is not installed")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, proc)
        yield
    finally:
        proc.terminate()
        proc.wait(10)


def _redis_server(port: int, tmp: Path) -> contextlib.AbstractContextManager[None]:
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "no", "--dir", str(tmp)]  # fmt: skip
    return _broker(cmd, port)


def _nats_server(port: int, tmp: Path) -> contextlib.AbstractContextManager[None]:
    cmd = ["nats-server", "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(tmp)]
    return _broker(cmd, port)


@pytest.mark.redis
def test_redis_down_events_are_buffered_then_flushed_when_it_starts(tmp_path: Path) -> None:
    pytest.importorskip("redis")
    from shipyard.monitoring.brokers import RedisEvents, RedisStreamWriter

    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    sink = EventSink(
        RedisStreamWriter(url, "events"), overflow="drop_oldest", flush_interval_s=0.02,
        max_backoff_s=0.2,
    ).start()  # fmt: skip
    started = time.perf_counter()
    events = [make_event(i) for i in range(200)]
    for e in events:
        sink.emit(e)
    assert time.perf_counter() - started < 1.0  # emitting never waits for the broker
    assert not sink.flush(0.5)
    assert sink.stats().retries > 0
    with _redis_server(port, tmp_path):
        assert sink.flush(20)
        stats = sink.close()
        stored = RedisEvents(url, "events").recent("housing")
    assert stats.written == 200 and stats.dropped == 0
    assert {r.request_id for r in stored} == {e.request_id for e in events}


@pytest.mark.nats
def test_nats_down_events_are_buffered_then_flushed_when_it_starts(tmp_path: Path) -> None:
    pytest.importorskip("nats")
    from shipyard.monitoring.brokers import NatsEvents, NatsWriter

    port = _free_port()
    url = f"nats://127.0.0.1:{port}"
    sink = EventSink(
        NatsWriter(url, "events"), overflow="drop_oldest", flush_interval_s=0.02, max_backoff_s=0.2
    ).start()
    events = [make_event(i) for i in range(200)]
    for e in events:
        sink.emit(e)
    assert not sink.flush(0.5)
    with _nats_server(port, tmp_path):
        assert sink.flush(30)
        stats = sink.close()
        stored = NatsEvents(url, "events").recent("housing")
    assert stats.written == 200 and stats.dropped == 0
    assert {r.request_id for r in stored} == {e.request_id for e in events}


@pytest.mark.redis
def test_a_broker_that_stays_down_costs_counted_drops_not_waits() -> None:
    pytest.importorskip("redis")
    from shipyard.monitoring.brokers import RedisStreamWriter

    url = f"redis://127.0.0.1:{_free_port()}/0"
    sink = EventSink(
        RedisStreamWriter(url, "events"), queue_size=100, overflow="drop_oldest",
        flush_interval_s=0.02,
    ).start()  # fmt: skip
    started = time.perf_counter()
    for i in range(1000):
        sink.emit(make_event(i))
    assert time.perf_counter() - started < 1.0
    stats = sink.close(timeout=0.3)
    assert stats.emitted == 1000
    assert stats.written == 0
    assert stats.dropped == 1000
