"""Prediction events leave the request path here: a bounded queue and one writer thread.

Path of an event, in four hops: the server's ``on_prediction`` hook calls
``EventSink.emit`` (enqueue, never raises) -> the writer thread takes a batch (up to
``batch_size`` events or ``flush_interval_s``) -> observers see it (metrics, drift)
-> the ``BatchWriter`` stores it (SQL, Parquet, Redis Streams, NATS JetStream).

When the queue is full the overflow policy decides: ``block`` waits (back-pressure on
the server, at most ``block_timeout_s``; the embedded default, nothing is lost),
``drop_oldest`` / ``drop_new`` drop and count (brokers' default, so a broker that is
down never slows a request). A batch that cannot be written because the backend is
unavailable is retried with exponential backoff until it is written or the sink
closes; a batch the backend rejects for its content is split until the offending
events are found, and only those are counted as rejected. ``close`` writes
everything still queued (within its timeout) and counts what it could not.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from shipyard.errors import MonitoringError
from shipyard.monitoring.encoded import EncodedQueue
from shipyard.monitoring.window import ServedColumns, served_columns
from shipyard.store.events import EVENT_COLUMNS, served_values

logger = logging.getLogger("shipyard.monitoring")

Overflow = Literal["block", "drop_oldest", "drop_new"]
Row = dict[str, Any]
Observer = Callable[[Sequence[ServedColumns]], None]
_WARN_EVERY_S = 30.0
# The writer thread works in slices of _SLICE events (about 0.1-0.3 ms each) and
# sleeps briefly between them: see yield_gil.
_SLICE = 128


def yield_gil() -> None:
    """Give the GIL to the event loop, if it is waiting, between two slices of work.

    A thread that only lets go of the GIL for an instant (``time.sleep(0)``) takes it
    back before the waiting event loop wakes up, and the loop then waits out CPython's
    whole 5 ms switch interval: measured, that alone took a server's p99 from 6.9 to
    9.0 ms. A real sleep, this short, hands the GIL over; it costs the writer nothing
    that matters (a batch waits for a flush interval anyway).
    """
    time.sleep(_YIELD_S)


_YIELD_S = 0.0002


class ServedPrediction(Protocol):
    """What a sink needs of a prediction event (``shipyard.serving.PredictionEvent`` fits)."""

    request_id: str
    time: float
    endpoint: str
    model_name: str
    model_version: int
    variant: str
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]
    latency_s: float
    shadow: bool


class SinkUnavailable(MonitoringError, ConnectionError):
    """The sink's backend cannot be reached now; the batch is kept and retried."""

    def __init__(self, sink: str, reason: str) -> None:
        self.sink = sink
        self.reason = reason
        super().__init__(
            f"event sink {sink} is unavailable: {reason}",
            hint="events are buffered and retried; check that the broker or database is up",
        )


class BatchWriter(Protocol):
    """Stores batches of event rows; called from the sink's writer thread only.

    ``write`` is durable when it returns and returns how many rows were new (a
    backend that cannot tell duplicates returns ``len(rows)``). It raises
    :class:`SinkUnavailable` when the backend cannot be reached (the batch is retried)
    and anything else when it refuses the rows themselves.
    """

    name: str
    batch_rows: int | None  # rows per write call at most (None: the whole batch)

    def open(self) -> None: ...

    def write(self, rows: Sequence[Row]) -> int: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SinkStats:
    """What a sink did with the events it was given, since it started.

    ``emitted`` = ``written`` + ``duplicates`` + ``dropped`` + ``rejected`` + ``queued``
    once nothing is in flight.
    """

    emitted: int
    written: int
    duplicates: int
    dropped: int
    rejected: int
    queued: int
    retries: int
    last_error: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def event_row(event: ServedPrediction) -> Row:
    """The stored form of an event: ids mapped by :func:`event_id`, latency in ms.

    Inputs and outputs stay numpy arrays here; each backend encodes them.
    """
    return stored_row(event_fields(event))


# What an event carries, by name: ``ServedPrediction`` and ``PredictionEvent``'s fields.
EVENT_FIELDS = (
    "request_id", "time", "endpoint", "model_name", "model_version", "variant", "inputs",
    "outputs", "latency_s", "shadow", "status", "key",
)  # fmt: skip


def event_fields(event: ServedPrediction) -> dict[str, Any]:
    """An event object as a mapping of :data:`EVENT_FIELDS` (absent ones None)."""
    return {name: getattr(event, name, None) for name in EVENT_FIELDS}


def stored_row(event: Mapping[str, Any]) -> Row:
    """:func:`event_row` of an event given as a mapping of :data:`EVENT_FIELDS` (e.g. the
    event as JSON, which is how the monitoring worker receives it).

    Raises:
        MonitoringError: a field is missing or of the wrong type.
    """
    return dict(zip(EVENT_COLUMNS, served_values(event), strict=True))


class EventSink:
    """A bounded queue in front of a BatchWriter, drained by one writer thread.

    It records failed requests too (``records_status``): the server then sends their
    events, with the HTTP status, so error rates can be judged from the store.

    The sink is itself a prediction hook: pass it (or a ``Monitor``) as the server's
    ``on_prediction``. Call :meth:`start` once (``open_sink`` does), :meth:`close` at
    shutdown.

    Args:
        writer: the backend.
        queue_size: events held in memory at most.
        overflow: what a full queue does (module docstring).
        batch_size: events written per call at most.
        flush_interval_s: how long an event may wait for its batch to fill.
        block_timeout_s: with ``block``, how long ``emit`` waits for room before dropping.
        observers: called with each batch's rows before it is written (metrics, drift).
        max_backoff_s: the longest wait between retries of an unavailable backend.

    Example:
        >>> sink = EventSink(SqlWriter(project.db)).start()  # doctest: +SKIP
        >>> app = create_app(source, on_prediction=sink)  # doctest: +SKIP
    """

    records_status = True

    def __init__(
        self,
        writer: BatchWriter,
        *,
        queue_size: int = 100_000,
        overflow: Overflow = "block",
        batch_size: int = 1000,
        flush_interval_s: float = 0.2,
        block_timeout_s: float = 5.0,
        observers: Iterable[Observer] = (),
        max_backoff_s: float = 5.0,
    ) -> None:
        if overflow not in ("block", "drop_oldest", "drop_new"):
            raise MonitoringError(
                f"overflow policy {overflow!r} is unknown",
                hint="use block, drop_oldest or drop_new",
            )
        self.writer = writer
        self.overflow = overflow
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.block_timeout_s = block_timeout_s
        self.observers = list(observers)
        self.max_backoff_s = max_backoff_s
        self.queue_size = queue_size
        # A deque, not a queue.Queue: emit is one append (atomic under the GIL) with no
        # wake-up of the writer, which waits out its flush interval; each cross-thread
        # notify is a GIL hand-off that the event loop pays for. Events encoded at emit
        # go to an EncodedQueue instead (start), its lock as uncontended.
        self._queue: _Objects | EncodedQueue = _Objects()
        self._room = threading.Condition(threading.Lock())  # emit waits here when full
        self._lock = threading.Lock()  # counters
        self._done = threading.Condition(threading.Lock())
        self._wake = threading.Event()  # ends a linger or a backoff early (flush, close)
        self._closing = threading.Event()
        self._closed = False  # _closing, read by emit without a call
        self._close_deadline = float("inf")
        self._thread: threading.Thread | None = None
        self._encode: Callable[[ServedPrediction], bytes] | None = None
        self._emitted = self._refused = self._handled = 0
        self._written = self._duplicates = self._dropped = self._rejected = self._retries = 0
        self._last_error: str | None = None
        self._last_warning = 0.0

    # ------------------------------------------------------------------ request side
    def start(self) -> EventSink:
        """Start the writer thread (once); returns the sink."""
        if self._thread is None:
            # A writer that takes events encoded (the monitoring worker's) gets each one
            # encoded here, on the request's thread (2-3 us), onto the end of its batch
            # (EncodedQueue): the writer thread then only sends buffers, and never holds
            # the GIL long enough to delay the event loop. Observers in this process need
            # the objects, so then it encodes them itself, as it does events queued
            # before the start.
            encoded = getattr(self.writer, "takes_events", False) and not self.observers
            if encoded and not self._queue:
                self._encode = self.writer.encode  # type: ignore[attr-defined]
                self._queue = EncodedQueue(self.batch_size)
            self._thread = threading.Thread(
                target=self._run, name=f"shipyard-events-{self.writer.name}", daemon=True
            )
            self._thread.start()
        return self

    def emit(self, event: ServedPrediction) -> None:
        """Queue one event for writing. Never raises; a dropped event is counted."""
        # On the request path: every call made here is paid by each request (the
        # server's instructions per request, callgrind: benchmarks/RESULTS.md).
        try:
            with self._lock:
                self._emitted += 1
            if self._closed:
                self._drop(1, "the sink is closed")
                return
            item: Any = event  # what is queued: the event, or its bytes
            if self._encode is not None:
                try:
                    item = self._encode(event)
                except Exception as exc:  # a malformed event object: count it, keep serving
                    self._refuse(f"not an event: {type(exc).__name__}: {exc}")
                    return
            queued = self._queue.offer(item, self.queue_size)
            if queued == self.batch_size:
                self._wake.set()  # a full batch goes now (the writer does not poll)
            elif not queued:
                self._overflow(item)
        except Exception:  # the request path must never see a monitoring failure
            logger.exception("event sink %s failed to queue an event", self.writer.name)

    def _overflow(self, item: Any) -> None:
        if self.overflow == "block":
            self._put_blocking(item)
        elif self.overflow == "drop_new":
            self._drop(1, "the queue is full")
        else:
            self._put_evicting(item)

    __call__ = emit

    def _put_blocking(self, item: Any) -> None:
        deadline = time.monotonic() + self.block_timeout_s
        with self._room:
            while len(self._queue) >= self.queue_size:
                left = deadline - time.monotonic()
                if left <= 0 or self._closing.is_set():
                    break
                self._wake.set()  # a full queue is worth writing now
                self._room.wait(min(left, 0.05))
            else:
                self._queue.append(item)
                return
        self._drop(1, f"the queue stayed full for {self.block_timeout_s} s")

    def _put_evicting(self, item: Any) -> None:
        self._queue.append(item)
        evicted = 0
        while len(self._queue) > self.queue_size:
            try:
                self._queue.popleft()
            except IndexError:
                break
            evicted += 1
        if evicted:
            with self._lock:
                self._dropped += evicted
                self._handled += evicted  # they were queued: flush must not wait for them
            self._warn("the queue is full; dropping the oldest events")

    def _refuse(self, error: str) -> None:
        """Count an event rejected at ``emit`` (never queued)."""
        with self._lock:
            self._rejected += 1
            self._refused += 1
            self._last_error = error
        self._warn(error)

    def _drop(self, n: int, why: str) -> None:
        """Count events refused at ``emit`` (never queued)."""
        with self._lock:
            self._dropped += n
            self._refused += n
        self._warn(f"dropped {n} event(s): {why}")

    # ------------------------------------------------------------------ control
    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every event queued before this call is written (or dropped).

        Returns False when ``timeout`` passed first (a backend that is down).
        """
        with self._lock:
            target = self._emitted - self._refused  # every event that was queued
        self._wake.set()
        deadline = time.monotonic() + timeout
        with self._done:
            while self._handled < target:
                left = deadline - time.monotonic()
                if left <= 0 or not self._alive():
                    return self._handled >= target
                self._done.wait(min(left, 0.1))
                self._wake.set()
        return True

    def close(self, timeout: float = 30.0) -> SinkStats:
        """Stop accepting events, write what is queued (within ``timeout``), close the backend.

        Events still unwritten at the deadline are counted as dropped. Idempotent.
        """
        self._close_deadline = time.monotonic() + timeout
        self._closed = True
        self._closing.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout + 5.0)
        else:
            self._discard_queued("the sink was never started")
        return self.stats()

    def stats(self) -> SinkStats:
        """Counters since start (see :class:`SinkStats`)."""
        with self._lock:
            return SinkStats(
                emitted=self._emitted,
                written=self._written,
                duplicates=self._duplicates,
                dropped=self._dropped,
                rejected=self._rejected,
                queued=len(self._queue),
                retries=self._retries,
                last_error=self._last_error,
            )

    def __enter__(self) -> EventSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ writer thread
    def _run(self) -> None:
        opened = self._retry(self.writer.open, "open")
        while opened:
            events = self._take()
            if events:
                self._handle(events)
            elif self._closing.is_set():
                break
            else:
                self._idle()
        if not opened:
            self._discard_queued("the backend never became available before close")
        try:
            self.writer.close()
        except Exception as exc:
            logger.warning("event sink %s did not close cleanly: %s", self.writer.name, exc)

    def _take(self) -> Sequence[Any]:
        """Up to batch_size events (objects, or an EncodedBatch), once the batch
        is full or its first event has waited ``flush_interval_s`` (or a flush or close
        asks for it now)."""
        queue, poll = self._queue, 0.02 if self._closing.is_set() else 0.1
        if not queue:
            self._wake.wait(poll)
            self._wake.clear()
            if not queue:
                return []
        deadline = time.monotonic() + self.flush_interval_s
        while len(queue) < self.batch_size:
            left = deadline - time.monotonic()
            if left <= 0 or self._wake.is_set() or self._closing.is_set():
                break
            # One wait, not a poll: each time this thread wakes it takes the GIL from
            # the event loop, and a hand-off while both cores are busy can stall the
            # loop for a scheduler tick (p99). emit wakes it when a batch is full.
            self._wake.wait(left)
        self._wake.clear()
        n = min(len(queue), self.batch_size)
        if isinstance(queue, EncodedQueue):
            events: Sequence[Any] = queue.take(n)
        else:
            events = [queue.popleft() for _ in range(n)]
        if self.overflow == "block":
            with self._room:
                self._room.notify_all()
        return events

    def _idle(self) -> None:
        """Nothing to write for a while: let a writer that wants to catch up do so."""
        refresh = getattr(self.writer, "refresh", None)
        if refresh is not None:
            try:
                refresh()
            except Exception as exc:  # the next batch retries the backend anyway
                logger.debug("event sink %s refresh failed: %s", self.writer.name, exc)

    def _handle(self, events: Sequence[Any]) -> None:
        # a writer that takes events gets them as they are, or as encoded at emit
        takes_events = getattr(self.writer, "takes_events", False)
        rows: Sequence[Any] = events if takes_events else self._rows(events)
        try:
            served = served_columns(events) if self.observers else []
        except Exception:
            logger.exception(
                "event sink %s could not group a batch for observers", self.writer.name
            )
            served = []
        for observe in self.observers:
            try:
                observe(served)
            except Exception:
                logger.exception("event observer %r failed", observe)
            yield_gil()
        chunk = getattr(self.writer, "batch_rows", None) or max(len(rows), 1)
        for start in range(0, len(rows), chunk):
            self._write(rows[start : start + chunk])
        with self._done:
            with self._lock:
                self._handled += len(events)
            self._done.notify_all()

    def _rows(self, events: Sequence[ServedPrediction]) -> list[Row]:
        rows: list[Row] = []
        for start in range(0, len(events), _SLICE):
            for event in events[start : start + _SLICE]:
                try:
                    rows.append(event_row(event))
                except Exception as exc:  # a malformed event object: count it, keep the rest
                    self._count(rejected=1, error=f"not an event: {type(exc).__name__}: {exc}")
            yield_gil()  # let the event loop in (see yield_gil)
        return rows

    def _write(self, rows: Sequence[Row]) -> None:
        written = self._retry(lambda: self.writer.write(rows), "write", len(rows))
        if written is None:
            self._count(dropped=len(rows))
            return
        if written is _REFUSED:
            if len(rows) == 1:
                self._count(rejected=1)
                return
            half = len(rows) // 2  # find the rows the backend refuses; keep the others
            self._write(rows[:half])
            self._write(rows[half:])
            return
        self._count(written=int(written), duplicates=len(rows) - int(written))

    def _retry(self, call: Callable[[], Any], what: str, n: int = 0) -> Any:
        """Call until it succeeds; None when the sink closes first, _REFUSED on a data error."""
        delay = 0.05
        while True:
            try:
                result = call()
                return True if result is None else result
            except SinkUnavailable as exc:
                self._count(retries=1, error=str(exc))
                self._warn(f"{what} failed, retrying: {exc.reason}")
            except Exception as exc:
                if what == "write":
                    self._count(error=f"{type(exc).__name__}: {exc}")
                    logger.warning(
                        "event sink %s refused %d event(s): %s", self.writer.name, n, exc
                    )
                    return _REFUSED
                self._count(retries=1, error=f"{type(exc).__name__}: {exc}")
                self._warn(f"{what} failed, retrying: {type(exc).__name__}: {exc}")
            if self._closing.is_set() and time.monotonic() >= self._close_deadline:
                return None
            self._wake.clear()
            self._wake.wait(delay)
            delay = min(delay * 2, self.max_backoff_s)

    def _discard_queued(self, why: str) -> None:
        n = 0
        while True:
            try:
                self._queue.popleft()
            except IndexError:
                break
            n += 1
        if n:
            self._count(dropped=n)
            self._warn(f"dropped {n} queued event(s): {why}")
        with self._done:
            with self._lock:
                self._handled += n
            self._done.notify_all()

    def _count(
        self,
        *,
        written: int = 0,
        duplicates: int = 0,
        dropped: int = 0,
        rejected: int = 0,
        retries: int = 0,
        error: str | None = None,
    ) -> None:
        with self._lock:
            self._written += written
            self._duplicates += duplicates
            self._dropped += dropped
            self._rejected += rejected
            self._retries += retries
            if error is not None:
                self._last_error = error

    def _warn(self, message: str) -> None:
        # a down broker would otherwise log once per event or per retry
        now = time.monotonic()
        if now - self._last_warning >= _WARN_EVERY_S:
            self._last_warning = now
            logger.warning("event sink %s: %s (stats: %s)", self.writer.name, message, self.stats())


_REFUSED = object()


class _Objects(deque[Any]):
    """The queue of event objects: a deque with ``EncodedQueue.offer``."""

    def offer(self, item: Any, limit: int) -> int:
        size = len(self)
        if size >= limit:
            return 0
        self.append(item)
        return size + 1
