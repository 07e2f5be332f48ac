"""Prediction events on a broker: Redis Streams and NATS JetStream, writers and readers.

Both deliver at least once: a batch retried after a lost acknowledgement may be
stored twice. NATS drops the copy itself (the ``Nats-Msg-Id`` header is the event
id, within the stream's duplicate window); the Redis reader drops it by event id.
A broker that is down raises ``SinkUnavailable``, and the sink retries with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import orjson

from shipyard.monitoring.events import Row, SinkUnavailable
from shipyard.monitoring.sinks import record_from_json_row
from shipyard.store.events import EventRecord, encode_json

T = TypeVar("T")
CONNECT_TIMEOUT_S = 2.0
ACK_TIMEOUT_S = 5.0
_PAGE = 1000
_TOKEN = re.compile(r"[^A-Za-z0-9_-]")


def event_payload(row: Row) -> bytes:
    """One event as JSON bytes (inputs and outputs nested, numpy arrays as lists)."""
    return encode_json(row)


def _matches(
    record: EventRecord,
    since: float | None,
    until: float | None,
    model: tuple[str, int] | None,
    shadow: bool | None,
) -> bool:
    return (
        (since is None or record.at >= since)
        and (until is None or record.at < until)
        and (model is None or (record.model_name, record.model_version) == model)
        and (shadow is None or record.shadow == shadow)
    )


def _newest(records: list[EventRecord], limit: int | None, oldest: bool) -> list[EventRecord]:
    unique = list({r.request_id: r for r in records}.values())
    unique.sort(key=lambda r: (r.at, r.request_id))
    if limit is None:
        return unique
    return unique[:limit] if oldest else unique[-limit:]


# ---------------------------------------------------------------------- Redis Streams
class RedisStreamWriter:
    """XADDs each event to one stream (field ``event``), capped near ``maxlen`` entries."""

    name = "redis"
    batch_rows: int | None = 256

    def __init__(self, url: str, stream: str, *, maxlen: int = 1_000_000) -> None:
        self.url = url
        self.stream = stream
        self.maxlen = maxlen
        self._client: Any = None

    def open(self) -> None:
        import redis

        client = redis.Redis.from_url(
            self.url, socket_timeout=CONNECT_TIMEOUT_S, socket_connect_timeout=CONNECT_TIMEOUT_S
        )
        try:
            client.ping()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            client.close()
            raise SinkUnavailable(f"redis {self.url}", str(exc)) from None
        self._client = client

    def write(self, rows: Sequence[Row]) -> int:
        import redis

        pipe = self._client.pipeline(transaction=False)
        for row in rows:
            pipe.xadd(
                self.stream, {"event": event_payload(row)}, maxlen=self.maxlen, approximate=True
            )
        try:
            pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise SinkUnavailable(f"redis {self.url}", str(exc)) from None
        return len(rows)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class RedisEvents:
    """Reads events back from the stream, newest first, page by page."""

    def __init__(self, url: str, stream: str) -> None:
        self.url = url
        self.stream = stream

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
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=CONNECT_TIMEOUT_S)
        found: list[EventRecord] = []
        ids: set[str] = set()
        try:
            pages = self._pages(client, oldest)
            for page in pages:
                for _, fields in page:
                    record = record_from_json_row(orjson.loads(fields[b"event"]))
                    if record.endpoint != endpoint or record.request_id in ids:
                        continue
                    if _matches(record, since, until, model, shadow):
                        found.append(record)
                        ids.add(record.request_id)
                if limit is not None and len(found) >= limit:
                    break
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise SinkUnavailable(f"redis {self.url}", str(exc)) from None
        finally:
            client.close()
        return _newest(found, limit, oldest)

    def _pages(self, client: Any, oldest: bool) -> Any:
        last = "+" if not oldest else "-"
        while True:
            if oldest:
                page = client.xrange(self.stream, min=last, max="+", count=_PAGE)
            else:
                page = client.xrevrange(self.stream, max=last, min="-", count=_PAGE)
            if last not in ("+", "-") and page:
                page = page[1:]  # the boundary entry was in the previous page
            if not page:
                return
            yield page
            last = page[-1][0].decode()


# ---------------------------------------------------------------------- NATS JetStream
def subject_for(stream: str, endpoint: str) -> str:
    """``<stream>.<endpoint>``, the endpoint reduced to one subject token."""
    return f"{stream}.{_TOKEN.sub('_', endpoint) or '_'}"


class NatsWriter:
    """Publishes each event to JetStream (``<stream>.<endpoint>``), waiting for every ack.

    nats-py is asyncio: the client runs on its own event loop in a private thread (so
    its heartbeats are answered between batches); ``write`` hands it a batch and waits.
    The stream is created when missing (subjects ``<stream>.>``).
    """

    name = "nats"
    batch_rows: int | None = None

    def __init__(self, url: str, stream: str) -> None:
        self.url = url
        self.stream = stream
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._nc: Any = None
        self._js: Any = None

    def open(self) -> None:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=self._loop.run_forever, name="shipyard-nats", daemon=True
            )
            self._thread.start()
        self._call(self._connect(), CONNECT_TIMEOUT_S * 3)

    async def _connect(self) -> None:
        import nats

        if self._nc is not None and self._nc.is_connected:
            return
        try:
            self._nc = await nats.connect(
                self.url,
                connect_timeout=CONNECT_TIMEOUT_S,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                error_cb=_quiet,
                disconnected_cb=_quiet_event,
                reconnected_cb=_quiet_event,
            )
            self._js = self._nc.jetstream()
            await ensure_stream(self._js, self.stream)
        except Exception as exc:
            raise SinkUnavailable(f"nats {self.url}", f"{type(exc).__name__}: {exc}") from None

    def write(self, rows: Sequence[Row]) -> int:
        if self._nc is None or self._nc.is_closed:
            self.open()
        new: int = self._call(self._publish(rows), ACK_TIMEOUT_S + 1.0)
        return new

    async def _publish(self, rows: Sequence[Row]) -> int:
        import nats.errors

        futures = []
        try:
            for row in rows:
                futures.append(
                    await self._js.publish_async(
                        subject_for(self.stream, row["endpoint"]),
                        event_payload(row),
                        headers={"Nats-Msg-Id": row["request_id"]},
                        wait_stall=ACK_TIMEOUT_S,
                    )
                )
            done, pending = await asyncio.wait(futures, timeout=ACK_TIMEOUT_S)
        except nats.errors.MaxPayloadError:
            raise
        except Exception as exc:
            for f in futures:
                f.cancel()
            raise SinkUnavailable(f"nats {self.url}", f"{type(exc).__name__}: {exc}") from None
        if pending:
            for f in pending:
                f.cancel()
            raise SinkUnavailable(f"nats {self.url}", f"{len(pending)} publish acks timed out")
        new = 0
        for f in done:
            failure = f.exception()
            if failure is not None:
                raise SinkUnavailable(f"nats {self.url}", f"{type(failure).__name__}: {failure}")
            new += not f.result().duplicate
        return new

    def close(self) -> None:
        if self._loop is None:
            return
        if self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(Exception):
                self._call(self._nc.close(), CONNECT_TIMEOUT_S)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._loop.close()
        self._loop = None

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise SinkUnavailable(f"nats {self.url}", f"no answer within {timeout} s") from None


async def ensure_stream(js: Any, stream: str) -> None:
    """Create the JetStream stream ``stream`` (subjects ``<stream>.>``) when it is missing."""
    from nats.js.errors import NotFoundError

    try:
        await js.stream_info(stream)
    except NotFoundError:
        await js.add_stream(name=stream, subjects=[f"{stream}.>"])


async def _quiet(exc: Exception) -> None:
    # reconnect attempts to a broker that is down: the sink counts and logs them itself
    return None


async def _quiet_event() -> None:
    return None


class NatsEvents:
    """Reads an endpoint's events back from the JetStream stream (an ephemeral consumer)."""

    def __init__(self, url: str, stream: str) -> None:
        self.url = url
        self.stream = stream

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
        try:
            records = asyncio.run(self._read(endpoint, since))
        except Exception as exc:
            raise SinkUnavailable(f"nats {self.url}", f"{type(exc).__name__}: {exc}") from None
        kept = [r for r in records if _matches(r, since, until, model, shadow)]
        return _newest(kept, limit, oldest)

    async def _read(self, endpoint: str, since: float | None) -> list[EventRecord]:
        import nats
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        from nats.js.errors import NotFoundError

        nc = await nats.connect(self.url, connect_timeout=CONNECT_TIMEOUT_S, allow_reconnect=False)
        try:
            js = nc.jetstream()
            try:
                info = await js.stream_info(self.stream)
            except NotFoundError:
                return []
            pending = int(info.state.messages)
            if not pending:
                return []
            subject = subject_for(self.stream, endpoint)
            config = ConsumerConfig(
                ack_policy=AckPolicy.NONE,
                deliver_policy=DeliverPolicy.ALL,
                filter_subject=subject,
                inactive_threshold=30.0,
            )
            if since is not None:
                from datetime import UTC, datetime

                config.deliver_policy = DeliverPolicy.BY_START_TIME
                config.opt_start_time = datetime.fromtimestamp(since, UTC)
            sub = await js.pull_subscribe(subject, config=config)
            records: list[EventRecord] = []
            while True:
                try:
                    msgs = await sub.fetch(_PAGE, timeout=1.0)
                except nats.errors.TimeoutError:
                    break
                records.extend(record_from_json_row(orjson.loads(m.data)) for m in msgs)
                if msgs and msgs[-1].metadata.num_pending == 0:
                    break
            await sub.unsubscribe()
            return records
        finally:
            await nc.close()
