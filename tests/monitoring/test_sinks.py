"""Every event backend passes one contract: what the sink writes, its reader reads back."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from monitoring_helpers import make_event

from shipyard.config import load_settings
from shipyard.errors import ConfigError
from shipyard.monitoring import EventSink, ParquetEvents, ParquetWriter, SqlWriter, open_sink
from shipyard.monitoring.sinks import open_events, parquet_dir
from shipyard.store.db import Database
from shipyard.store.events import EventStore

REDIS = "redis://127.0.0.1:6379/0"
SQL_WRITER = "shipyard.monitoring.sinks:sql_writer"
NATS = "nats://127.0.0.1:4222"


def _sqlite(tmp_path: Path) -> tuple[Any, Any]:
    db = Database(f"sqlite:///{tmp_path}/events.db")
    return SqlWriter(db), EventStore(db)


def _sqlite_process(tmp_path: Path) -> tuple[Any, Any]:
    from shipyard.monitoring.offload import ProcessWriter

    url = f"sqlite:///{tmp_path}/events.db"
    return ProcessWriter(SQL_WRITER, url, name="sqlite"), EventStore(Database(url))


def _postgres(pg_url: str) -> tuple[Any, Any]:
    db = Database(pg_url)
    return SqlWriter(db), EventStore(db)


def _parquet(tmp_path: Path) -> tuple[Any, Any]:
    return ParquetWriter(tmp_path / "events"), ParquetEvents(tmp_path / "events")


def _redis() -> tuple[Any, Any]:
    pytest.importorskip("redis")
    from shipyard.monitoring.brokers import RedisEvents, RedisStreamWriter

    stream = f"test-{uuid.uuid4().hex[:10]}"
    return RedisStreamWriter(REDIS, stream), RedisEvents(REDIS, stream)


def _nats() -> tuple[Any, Any]:
    pytest.importorskip("nats")
    from shipyard.monitoring.brokers import NatsEvents, NatsWriter

    stream = f"test-{uuid.uuid4().hex[:10]}"
    return NatsWriter(NATS, stream), NatsEvents(NATS, stream)


@pytest.fixture(
    params=[
        "sqlite",
        "sqlite-process",
        pytest.param("postgres", marks=pytest.mark.postgres),
        "parquet",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("nats", marks=pytest.mark.nats),
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    kind = request.param
    if kind == "sqlite":
        yield _sqlite(tmp_path)
    elif kind == "sqlite-process":
        yield _sqlite_process(tmp_path)
    elif kind == "postgres":
        yield _postgres(request.getfixturevalue("pg_url"))
    elif kind == "parquet":
        yield _parquet(tmp_path)
    elif kind == "redis":
        yield _redis()
    else:
        yield _nats()


def test_every_emitted_event_is_read_back_intact(backend: tuple[Any, Any]) -> None:
    writer, reader = backend
    now = time.time() - 10  # events happen before they are stored (NATS reads by store time)
    events = [make_event(i, at=now + i * 0.001) for i in range(300)]
    events.append(make_event(900, endpoint="other", at=now))
    events.append(
        make_event(901, request_id=events[0].request_id, shadow=True, variant="v2", at=now)
    )
    with EventSink(writer, batch_size=64, flush_interval_s=0.02) as sink:
        for e in events:
            sink.emit(e)
        assert sink.flush(30)
    assert sink.stats().written == len(events)
    got = reader.recent("housing", limit=1000)
    assert [g.request_id for g in got] == [e.request_id for e in events[:300]]
    first, source = got[0], events[0]
    assert first.inputs["area"] == [pytest.approx(float(source.inputs["area"][0]))]
    assert first.inputs["region"] == [source.inputs["region"][0]]
    assert first.outputs["prediction"] == [pytest.approx(float(source.outputs["prediction"][0]))]
    assert first.latency_ms == pytest.approx(2.0)
    assert (first.model_name, first.model_version, first.variant) == ("housing", 1, "default")
    newest = reader.recent("housing", limit=5)
    assert [g.request_id for g in newest] == [e.request_id for e in events[295:300]]
    oldest = reader.recent("housing", limit=5, oldest=True)
    assert [g.request_id for g in oldest] == [e.request_id for e in events[:5]]
    since = reader.recent("housing", since=now + 0.2895)
    assert [g.request_id for g in since] == [e.request_id for e in events[300 - len(since) : 300]]
    assert len(since) == 10
    shadows = reader.recent("housing", shadow=True)
    assert [s.request_id for s in shadows] == [f"{events[0].request_id}~v2"]
    assert [g.endpoint for g in reader.recent("other")] == ["other"]


def test_writing_the_same_events_twice_keeps_one_copy_in_sql(tmp_path: Path) -> None:
    writer, store = _sqlite(tmp_path)
    events = [make_event(i) for i in range(50)]
    for _ in range(2):
        with EventSink(writer, flush_interval_s=0.01) as sink:
            for e in events:
                sink.emit(e)
    assert store.count("housing") == 50
    assert sink.stats().duplicates == 50


def test_duckdb_queries_the_parquet_files(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    writer, _ = _parquet(tmp_path)
    with EventSink(writer, batch_size=40, flush_interval_s=0.01) as sink:
        for i in range(100):
            sink.emit(make_event(i, area=100.0 + i))
    files = list((tmp_path / "events").glob("*.parquet"))
    assert len(files) >= 3  # one file per batch
    glob = str(tmp_path / "events" / "*.parquet")
    ((count, mean_area),) = duckdb.sql(
        f"SELECT count(*), avg(CAST(json_extract(inputs, '$.area[0]') AS DOUBLE)) "
        f"FROM read_parquet('{glob}') WHERE endpoint = 'housing'"
    ).fetchall()
    assert count == 100
    assert mean_area == pytest.approx(149.5)


def test_open_sink_follows_the_settings(tmp_path: Path) -> None:
    (tmp_path / "shipyard.yaml").write_text("monitoring:\n  sink: parquet\n  sink_url: ev\n")
    settings = load_settings(tmp_path)
    assert parquet_dir(settings) == (tmp_path / "ev").resolve()
    sink = open_sink(settings)
    assert sink.overflow == "block" and sink.flush_interval_s == 5.0
    sink.emit(make_event(1))
    sink.close()
    assert len(open_events(settings).recent("housing")) == 1


def test_open_sink_refuses_a_url_of_the_wrong_kind(tmp_path: Path) -> None:
    settings = load_settings(
        tmp_path, overrides=["monitoring.sink=redis", "monitoring.sink_url=http://x"]
    )
    with pytest.raises(ConfigError, match="not a redis URL"):
        open_sink(settings)


def test_unknown_sink_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"monitoring\.sink"):
        load_settings(tmp_path, overrides=["monitoring.sink=kafka"])


def test_a_writer_process_that_dies_is_restarted_and_nothing_is_lost(tmp_path: Path) -> None:
    writer, store = _sqlite_process(tmp_path)
    with EventSink(writer, flush_interval_s=0.02, max_backoff_s=0.1) as sink:
        for i in range(100):
            sink.emit(make_event(i))
        assert sink.flush(60)
        first = writer._process
        first.kill()
        first.wait(10)
        for i in range(100, 200):
            sink.emit(make_event(i))
        assert sink.flush(60)
        assert writer._process is not None and writer._process.pid != first.pid
    assert store.count("housing") == 200
    assert sink.stats().written == 200


def test_a_writer_process_that_cannot_open_is_unavailable(tmp_path: Path) -> None:
    from shipyard.monitoring.events import SinkUnavailable
    from shipyard.monitoring.offload import ProcessWriter

    writer = ProcessWriter(SQL_WRITER, "nosuchdb://x", name="sqlite")
    with pytest.raises(SinkUnavailable, match="failed to open"):
        writer.open()


def test_open_sink_writes_sqlite_from_a_child_process_by_default(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    sink = open_sink(settings)
    assert type(sink.writer).__name__ == "ProcessWriter"
    sink.emit(make_event(1))
    sink.close()
    assert len(open_events(settings).recent("housing")) == 1


@pytest.mark.skipif(sys.platform != "linux", reason="pipe sizes are set on Linux only")
def test_the_worker_pipe_holds_a_whole_batch(tmp_path: Path) -> None:
    import fcntl

    writer, _ = _sqlite_process(tmp_path)
    writer.open()
    try:
        assert fcntl.fcntl(writer._process.stdin.fileno(), fcntl.F_GETPIPE_SZ) >= 1 << 20
    finally:
        writer.close()
