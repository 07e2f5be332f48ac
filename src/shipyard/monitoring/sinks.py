"""Where prediction events are stored: embedded backends, and the factory for all of them.

Embedded: ``SqlWriter`` (the project's metadata database: SQLite by default, also
PostgreSQL) and ``ParquetWriter`` (one Parquet file per batch in a directory, written
to a temporary name and renamed, so a reader never sees half a file; DuckDB reads
them with ``read_parquet('DIR/*.parquet')``). Brokers (Redis Streams, NATS JetStream)
live in ``monitoring.brokers``. Each backend has a writer (for ``EventSink``) and a
reader with ``recent(...)``, the same call as ``EventStore.recent``, for drift windows.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from shipyard.config import MonitoringSpec, Settings
from shipyard.errors import ConfigError, StoreError
from shipyard.monitoring.events import BatchWriter, EventSink, Observer, Row, SinkUnavailable
from shipyard.store.db import Database
from shipyard.store.events import EventRecord, EventStore, encode_json

PARQUET_COLUMNS = (
    ("request_id", "string"), ("at", "float64"), ("endpoint", "string"),
    ("model_name", "string"), ("model_version", "int64"), ("variant", "string"),
    ("key", "string"), ("inputs", "string"), ("outputs", "string"),
    ("latency_ms", "float64"), ("status", "int32"), ("shadow", "bool"),
)  # fmt: skip
# How long events wait for a batch, by backend: Parquet makes one file per batch. Short
# for the others: an event held in the server's queue for long outlives the young
# generation, and the garbage collector then walks it again and again (measured: a
# 0.5 s wait cost the server's p99 a fifth more than 0.05 s).
DEFAULT_FLUSH_S = {"sqlite": 0.05, "parquet": 5.0, "redis": 0.05, "nats": 0.05}
# Events encoded as they are emitted (for the monitoring worker) wait as bytes, which
# the collector does not track: they can wait longer, and the worker's cost per batch
# (a commit, cold caches) is spread over more events (measured: its CPU per event
# 24 -> 19 us, from 0.05 to 0.2 s).
ENCODED_FLUSH_S = 0.2


class EventSource(Protocol):
    """Reads stored events back for drift windows and reports."""

    def recent(
        self,
        endpoint: str,
        *,
        limit: int | None = None,
        since: float | None = None,
        until: float | None = None,
        model: tuple[str, int] | None = None,
        shadow: bool | None = False,
        oldest: bool = False,
    ) -> list[EventRecord]: ...


# ---------------------------------------------------------------------- SQL
class SqlWriter:
    """Writes batches into the metadata database through ``EventStore`` (one transaction each)."""

    name = "sqlite"
    batch_rows: int | None = (
        None  # one transaction per batch: fewer commits, each page written once
    )

    def __init__(self, db: Database) -> None:
        self.store = EventStore(db)
        self.name = db.engine.dialect.name

    def open(self) -> None:
        return None

    def write(self, rows: Sequence[Row]) -> int:
        return self._stored(self.store.write, rows)

    def write_json(self, payload: bytes) -> int:
        """A batch as the server encoded it (in a child process: ``offload``)."""
        return self.write_decoded(orjson.loads(payload))

    def write_decoded(self, rows: Sequence[Row]) -> int:
        """Rows holding plain JSON values (see ``EventStore.write_decoded``)."""
        return self._stored(self.store.write_decoded, rows)

    def write_values(self, values: list[list[Any]]) -> int:
        """Events as the server sent them, made values (see ``EventStore.write_values``)."""
        return self._stored(self.store.write_values, values)

    def _stored(self, write: Callable[[Any], int], batch: Any) -> int:
        try:
            return write(batch)
        except StoreError as exc:
            cause = exc.__cause__
            # a locked, unreachable or full database is transient; a refused row is not
            if type(cause).__name__ in (
                "OperationalError", "InterfaceError", "TimeoutError"
            ):  # fmt: skip
                raise SinkUnavailable(self.name, str(getattr(cause, "orig", cause))) from exc
            raise

    def close(self) -> None:
        return None


# ---------------------------------------------------------------------- Parquet
class ParquetWriter:
    """Writes each batch as one Parquet file in ``directory`` (inputs/outputs as JSON text).

    Args:
        directory: created when missing.
    """

    name = "parquet"
    batch_rows: int | None = None  # one file per batch

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._seq = itertools.count()
        self._tag = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"

    def open(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkUnavailable(f"parquet:{self.directory}", str(exc)) from None

    def write(self, rows: Sequence[Row]) -> int:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns: dict[str, list[Any]] = {name: [] for name, _ in PARQUET_COLUMNS}
        for row in rows:
            for name, _ in PARQUET_COLUMNS:
                value = row.get(name)
                if name in ("inputs", "outputs"):
                    value = encode_json(value or {}).decode()
                columns[name].append(value)
        table = pa.table(
            {
                name: pa.array(columns[name], type=pa.type_for_alias(kind))
                for name, kind in PARQUET_COLUMNS
            }
        )
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        final = self.directory / f"events-{stamp}-{self._tag}-{next(self._seq):06d}.parquet"
        tmp = final.with_name("." + final.name + ".tmp")
        try:
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, final)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise SinkUnavailable(f"parquet:{self.directory}", str(exc)) from None
        return len(rows)

    def close(self) -> None:
        return None


class ParquetEvents:
    """Reads the events a ParquetWriter wrote (pyarrow; DuckDB works on the same files)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def files(self) -> list[Path]:
        return sorted(self.directory.glob("events-*.parquet"))

    def recent(
        self,
        endpoint: str,
        *,
        limit: int | None = None,
        since: float | None = None,
        until: float | None = None,
        model: tuple[str, int] | None = None,
        shadow: bool | None = False,
        oldest: bool = False,
    ) -> list[EventRecord]:
        import pyarrow.compute as pc
        import pyarrow.dataset as ds

        files = self.files()
        if not files:
            return []
        expr = pc.field("endpoint") == endpoint
        if since is not None:
            expr &= pc.field("at") >= since
        if until is not None:
            expr &= pc.field("at") < until
        if model is not None:
            expr &= (pc.field("model_name") == model[0]) & (pc.field("model_version") == model[1])
        if shadow is not None:
            expr &= pc.field("shadow") == shadow
        table = ds.dataset([str(f) for f in files], format="parquet").to_table(filter=expr)
        order = "ascending" if oldest else "descending"
        table = table.sort_by([("at", order), ("request_id", "ascending")])
        if limit is not None:
            table = table.slice(0, limit)
        records = [record_from_json_row(r) for r in table.to_pylist()]
        return records if oldest else records[::-1]


def record_from_json_row(row: dict[str, Any]) -> EventRecord:
    """An EventRecord from a row whose inputs/outputs are JSON text (Parquet, brokers)."""
    import orjson

    return EventRecord(
        request_id=str(row["request_id"]),
        at=float(row["at"]),
        endpoint=str(row["endpoint"]),
        model_name=str(row["model_name"]),
        model_version=int(row["model_version"]),
        variant=str(row["variant"]),
        inputs=orjson.loads(row["inputs"])
        if isinstance(row["inputs"], str | bytes)
        else row["inputs"],
        outputs=orjson.loads(row["outputs"])
        if isinstance(row["outputs"], str | bytes)
        else row["outputs"],
        latency_ms=float(row["latency_ms"]),
        status=int(row.get("status") or 200),
        shadow=bool(row.get("shadow")),
        key=row.get("key"),
    )


# ---------------------------------------------------------------------- factory
def open_sink(
    settings: Settings,
    db: Database | None = None,
    *,
    observers: Iterable[Observer] = (),
    writer: BatchWriter | None = None,
) -> EventSink:
    """The started EventSink that ``settings.monitoring`` configures.

    Args:
        settings: the project's settings (``monitoring.sink``, ``sink_url``, queue and batch sizes).
        db: the metadata database, for the ``sqlite`` sink.
        observers: called with each batch (metrics, drift watcher).
        writer: the backend, instead of the configured one (the monitoring worker).

    Raises:
        ConfigError: the sink needs a URL or database that was not given.
    """
    spec = settings.monitoring
    writer = writer or _writer(settings, db)
    observers = list(observers)
    broker = spec.sink in ("redis", "nats")
    default_flush = DEFAULT_FLUSH_S[spec.sink]
    if getattr(writer, "takes_events", False) and not observers:  # encoded: EventSink.start
        default_flush = max(ENCODED_FLUSH_S, default_flush)
    return EventSink(
        writer,
        queue_size=spec.queue_size,
        overflow=spec.overflow or ("drop_oldest" if broker else "block"),
        batch_size=spec.batch_size,
        flush_interval_s=spec.flush_interval_s or default_flush,
        block_timeout_s=spec.block_timeout_s,
        observers=observers,
    ).start()


def open_events(settings: Settings, db: Database | None = None) -> EventSource:
    """The reader of the events ``settings.monitoring`` sends to its sink."""
    spec = settings.monitoring
    if spec.sink == "sqlite":
        return EventStore(db if db is not None else Database(settings.store_url))
    if spec.sink == "parquet":
        return ParquetEvents(parquet_dir(settings))
    from shipyard.monitoring import brokers

    if spec.sink == "redis":
        return brokers.RedisEvents(_broker_url(spec), spec.stream)
    return brokers.NatsEvents(_broker_url(spec), spec.stream)


def parquet_dir(settings: Settings) -> Path:
    """The Parquet sink's directory: ``sink_url`` (relative to the project) or ``.shipyard/events``."""
    url = settings.monitoring.sink_url or ".shipyard/events"
    if "://" in url and not url.startswith("file://"):
        raise ConfigError(
            f"monitoring.sink_url {url!r} is not a local directory",
            hint="the parquet sink writes local files; give a path such as .shipyard/events",
        )
    return (settings.root / url.removeprefix("file://")).resolve()


def sql_writer(url: str) -> BatchWriter:
    """A SqlWriter on its own connection to ``url`` (the child side of a ProcessWriter)."""
    return SqlWriter(Database(url))


def _writer(settings: Settings, db: Database | None) -> Any:
    spec = settings.monitoring
    if spec.sink == "sqlite" and spec.sink_process:
        from shipyard.monitoring.offload import ProcessWriter

        url = db.url if db is not None else settings.store_url
        return ProcessWriter("shipyard.monitoring.sinks:sql_writer", url, name="sqlite")
    return in_process_writer(settings, db)


def in_process_writer(settings: Settings, db: Database | None = None) -> BatchWriter:
    """The configured backend's writer, writing from this process."""
    spec = settings.monitoring
    if spec.sink == "sqlite":
        return SqlWriter(db if db is not None else Database(settings.store_url))
    if spec.sink == "parquet":
        return ParquetWriter(parquet_dir(settings))
    from shipyard.monitoring import brokers

    if spec.sink == "redis":
        return brokers.RedisStreamWriter(_broker_url(spec), spec.stream, maxlen=spec.stream_maxlen)
    return brokers.NatsWriter(_broker_url(spec), spec.stream)


def _broker_url(spec: MonitoringSpec) -> str:
    defaults = {"redis": "redis://127.0.0.1:6379/0", "nats": "nats://127.0.0.1:4222"}
    url = spec.sink_url or defaults[spec.sink]
    if not url.startswith(("redis://", "rediss://", "nats://", "tls://")):
        raise ConfigError(
            f"monitoring.sink_url {url!r} is not a {spec.sink} URL",
            hint=f"write e.g. {defaults[spec.sink]}",
        )
    return url
