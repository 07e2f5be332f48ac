"""Prediction events, their outcomes and monitoring alerts, persisted.

``EventStore`` is the only writer of the ``prediction_events``, ``outcomes`` and
``alerts`` tables. Events arrive in batches from a sink's writer thread (one
``executemany`` per batch); an event whose id is already stored is skipped, so a
retried batch never duplicates a row. Reads return frozen dataclasses.

Stored ids: the table's key is ``request_id`` (at most 64 characters), but a request
id may be longer and a shadow prediction shares its request's id. :func:`event_id`
maps both to one stored id, and the outcome of a request is stored under the same
mapping, so outcomes join their events by equality.
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Select, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from shipyard.errors import MonitoringError, NotFoundError, StoreError
from shipyard.store.db import Database
from shipyard.store.schema import AlertRow, OutcomeRow, PredictionEventRow

MAX_ID = 64
MAX_OUTCOME_KIND = 50
EVENT_COLUMNS = (
    "request_id", "at", "endpoint", "model_name", "model_version", "variant", "key",
    "inputs", "outputs", "latency_ms", "status", "shadow",
)  # fmt: skip
# An event's fields in the order of the columns they are stored in: the form the server
# sends its events to the monitoring worker in (``served_values`` reads it). A tuple
# of them encodes in 14k instructions against 23k for the event object (orjson reads a
# slotted dataclass's fields one by one), to 181 bytes of JSON against 306.
SERVED_FIELDS = (
    "request_id", "time", "endpoint", "model_name", "model_version", "variant", "key",
    "inputs", "outputs", "latency_s", "status", "shadow",
)  # fmt: skip


def event_id(request_id: str, shadow_variant: str | None = None) -> str:
    """The id an event is stored under: the request id, or a digest of it when too long.

    A shadow prediction is stored as ``<request id>~<variant>``, beside its request.
    """
    raw = request_id if shadow_variant is None else f"{request_id}~{shadow_variant}"
    if len(raw) <= MAX_ID:
        return raw
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()[: MAX_ID - 7]


@dataclass(frozen=True)
class EventRecord:
    """One stored prediction event; ``inputs``/``outputs`` map a name to its batch's values."""

    request_id: str
    at: float
    endpoint: str
    model_name: str
    model_version: int
    variant: str
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]
    latency_ms: float
    status: int = 200
    shadow: bool = False
    key: str | None = None

    @property
    def model(self) -> str:
        return f"{self.model_name}:{self.model_version}"

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in EVENT_COLUMNS}


@dataclass(frozen=True)
class OutcomeRecord:
    """What really happened for one request (a label, a value), recorded later."""

    request_id: str
    kind: str
    value: float
    at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "kind": self.kind,
            "value": self.value,
            "at": self.at,
        }


@dataclass(frozen=True)
class AlertRecord:
    """One alert that was raised (deduplicated alerts are not stored)."""

    id: int
    at: datetime
    endpoint: str
    kind: str
    dedup_key: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "endpoint": self.endpoint,
            "kind": self.kind,
            "dedup_key": self.dedup_key,
            "message": self.message,
            "details": dict(self.details),
        }


class OutcomeConflictError(MonitoringError, ValueError):
    """An outcome of this kind was already recorded for the request, with another value."""

    def __init__(self, request_id: str, kind: str, stored: float, given: float) -> None:
        self.request_id = request_id
        self.kind = kind
        super().__init__(
            f"request {request_id!r} already has outcome {kind!r} = {stored}, not {given}",
            hint="outcomes are immutable; record a correction under another kind",
        )


class EventStore:
    """Events, outcomes and alerts in the project's metadata database.

    Args:
        db: the project's metadata database.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ events
    def write(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert a batch of event rows (keys of :data:`EVENT_COLUMNS`) in one transaction.

        Rows whose ``request_id`` is already stored are skipped, so writing a batch twice
        stores it once. Returns how many rows were new.

        Raises:
            StoreError: the database failed; nothing of the batch was written.
        """
        if not rows:
            return 0
        params = [_event_params(row) for row in rows]
        # A batch may hold one id twice (a client reusing x-request-id): keep the first.
        unique = list({p[0]: p for p in reversed(params)}.values())[::-1]
        if self.db.engine.dialect.name == "sqlite":
            return self._write_sqlite(unique)
        values = []
        for p in unique:
            v = dict(zip(EVENT_COLUMNS, p, strict=True))
            v["inputs"] = orjson.loads(encode_json(v["inputs"]))
            v["outputs"] = orjson.loads(encode_json(v["outputs"]))
            values.append(v)
        stmt = (
            _insert(self.db, PredictionEventRow)
            .on_conflict_do_nothing(index_elements=["request_id"])
            .returning(PredictionEventRow.request_id)
        )
        with self.db.transaction() as session:
            inserted = session.execute(stmt, values).all()
        return len(inserted)

    def write_values(self, values: list[list[Any]]) -> int:
        """Insert served events, each made values by :func:`served_values` from a mapping
        of its fields, in one transaction; like :meth:`write`, an id already stored is
        skipped. The values are taken over (their inputs and outputs become JSON text).

        On SQLite each event's values are its bound row, with no row mapping between:
        the monitoring worker's path, which reads the same values for its drift columns.

        Raises:
            StoreError: the database failed; nothing of the batch was written.
        """
        if not values or self.db.engine.dialect.name != "sqlite":
            return self.write([dict(zip(EVENT_COLUMNS, v, strict=True)) for v in values])
        return self._execute_sqlite(_SQLITE_INSERT_ROWS, _sqlite_bound(values))

    def write_decoded(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """:meth:`write` for rows holding plain JSON values (decoded from the server's JSON).

        On SQLite: one bound row per event (``executemany``), measured the cheapest
        here when no request thread shares the process's GIL (the monitoring worker);
        :meth:`write` binds the whole batch as one JSON text for that reason.

        Raises:
            StoreError: the database failed; nothing of the batch was written.
        """
        if not rows or self.db.engine.dialect.name != "sqlite":
            return self.write(rows)
        params = [_event_params(row) for row in rows]
        return self._execute_sqlite(_SQLITE_INSERT_ROWS, _sqlite_bound(params))

    def _write_sqlite(self, params: list[list[Any]]) -> int:
        # The whole batch is one JSON array bound to one INSERT ... SELECT FROM json_each:
        # one C call encodes it (numpy arrays included), one statement stores it, and
        # SQLite does it all without the GIL. executemany would bind row by row and
        # release and retake the GIL per row, which the server's threads pay for. The
        # engine's connections are in autocommit mode (store.db): the transaction is
        # spelled out.
        return self._execute_sqlite(_SQLITE_INSERT, [(encode_json(params).decode(),)])

    def _execute_sqlite(self, insert: str, params: list[Any]) -> int:
        raw = self.db.engine.raw_connection()
        try:
            conn: Any = raw.driver_connection
            before = conn.total_changes
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(insert, params)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return int(conn.total_changes - before)
        except sqlite3.Error as exc:
            raise StoreError(
                f"the metadata store at {self.db.url} failed: {type(exc).__name__}: {exc}",
                hint="check that the database is writable and not locked by another program",
            ) from exc
        finally:
            raw.close()

    def count(self, endpoint: str | None = None, *, since: float | None = None) -> int:
        """How many events are stored (for an endpoint, since a unix time)."""
        query = select(func.count()).select_from(PredictionEventRow)
        if endpoint is not None:
            query = query.where(PredictionEventRow.endpoint == endpoint)
        if since is not None:
            query = query.where(PredictionEventRow.at >= since)
        with self.db.read() as session:
            return int(session.scalar(query) or 0)

    def get(self, request_id: str) -> EventRecord:
        """The event of one request.

        Raises:
            NotFoundError: no event is stored under that request id.
        """
        with self.db.read() as session:
            row = session.get(PredictionEventRow, event_id(request_id))
            if row is None:
                raise NotFoundError(
                    "prediction event", request_id,
                    hint="events are written shortly after each response; check the id "
                    "returned in the x-request-id header",
                )  # fmt: skip
            return _event(row)

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
        """An endpoint's events, oldest first: the newest ``limit`` (or the oldest, with ``oldest``).

        Args:
            since, until: unix-time bounds (``since`` included, ``until`` excluded).
            model: only events answered by this ``(name, version)``.
            shadow: False: served predictions only; True: shadows only; None: both.
        """
        query = select(PredictionEventRow).where(PredictionEventRow.endpoint == endpoint)
        query = _bounded(query, since, until, model, shadow)
        order = PredictionEventRow.at.asc() if oldest else PredictionEventRow.at.desc()
        query = query.order_by(order, PredictionEventRow.request_id)
        if limit is not None:
            query = query.limit(limit)
        with self.db.read() as session:
            rows = [_event(r) for r in session.scalars(query)]
        return rows if oldest else rows[::-1]

    def endpoints(self) -> list[str]:
        """Every endpoint with stored events."""
        with self.db.read() as session:
            return sorted(session.scalars(select(PredictionEventRow.endpoint).distinct()))

    def delete_before(self, at: float) -> int:
        """Delete events older than ``at`` (unix seconds); returns how many went."""
        removed = 0
        with self.db.transaction() as session:
            # endpoint by endpoint: the events' index is (endpoint, at)
            for endpoint in session.scalars(select(PredictionEventRow.endpoint).distinct()).all():
                result = session.execute(
                    delete(PredictionEventRow).where(
                        PredictionEventRow.endpoint == endpoint, PredictionEventRow.at < at
                    )
                )
                removed += int(result.rowcount or 0)  # type: ignore[attr-defined]
        return removed

    # ------------------------------------------------------------------ outcomes
    def record_outcome(
        self, request_id: str, kind: str, value: float, *, at: float | None = None
    ) -> OutcomeRecord:
        """Record what really happened for a served request; recording it again is a no-op.

        Raises:
            NotFoundError: no event has this request id (outcomes join events).
            OutcomeConflictError: this kind was recorded for the request with another value.
            MonitoringError: ``kind`` is empty or too long, or ``value`` is not finite.
        """
        _check_outcome(kind, value)
        stored_id = event_id(request_id)
        values = {
            "request_id": stored_id,
            "kind": kind,
            "value": float(value),
            "at": at or time.time(),
        }
        with self.db.transaction() as session:
            if session.get(PredictionEventRow, stored_id) is None:
                raise NotFoundError(
                    "prediction event", request_id,
                    hint="record outcomes with the id from the response's x-request-id header, "
                    "after the prediction was served",
                )  # fmt: skip
            stmt = _insert(self.db, OutcomeRow).values(**values)
            session.execute(stmt.on_conflict_do_nothing(index_elements=["request_id", "kind"]))
            row = session.scalars(
                select(OutcomeRow).where(
                    OutcomeRow.request_id == stored_id, OutcomeRow.kind == kind
                )
            ).one()
            record = OutcomeRecord(row.request_id, row.kind, row.value, row.at)
        if record.value != float(value):
            raise OutcomeConflictError(request_id, kind, record.value, float(value))
        return record

    def joined(
        self,
        endpoint: str,
        kind: str,
        *,
        limit: int | None = None,
        since: float | None = None,
        until: float | None = None,
        model: tuple[str, int] | None = None,
        oldest: bool = False,
    ) -> list[tuple[EventRecord, OutcomeRecord]]:
        """Served events that have an outcome of ``kind``, oldest first (see :meth:`recent`)."""
        query: Any = (
            select(PredictionEventRow, OutcomeRow)
            .join(OutcomeRow, OutcomeRow.request_id == PredictionEventRow.request_id)
            .where(PredictionEventRow.endpoint == endpoint, OutcomeRow.kind == kind)
        )
        query = _bounded(query, since, until, model, False)
        order = PredictionEventRow.at.asc() if oldest else PredictionEventRow.at.desc()
        query = query.order_by(order, PredictionEventRow.request_id)
        if limit is not None:
            query = query.limit(limit)
        with self.db.read() as session:
            pairs = [
                (_event(e), OutcomeRecord(o.request_id, o.kind, o.value, o.at))
                for e, o in session.execute(query)
            ]
        return pairs if oldest else pairs[::-1]

    # ------------------------------------------------------------------ alerts
    def record_alert(
        self,
        *,
        endpoint: str,
        kind: str,
        dedup_key: str,
        message: str,
        details: Mapping[str, Any],
        cooldown_s: float,
        at: datetime | None = None,
    ) -> AlertRecord | None:
        """Store an alert unless one with the same ``dedup_key`` was stored within ``cooldown_s``.

        Returns the stored alert, or None when it was a duplicate. The check and the
        insert share one transaction (on SQLite it holds the write lock throughout).
        """
        now = at or datetime.now(UTC)
        with self.db.transaction() as session:
            last = session.scalar(
                select(func.max(AlertRow.at)).where(AlertRow.dedup_key == dedup_key[:300])
            )
            if last is not None:
                last = last if last.tzinfo else last.replace(tzinfo=UTC)
                if (now - last).total_seconds() < cooldown_s:
                    return None
            row = AlertRow(
                at=now,
                endpoint=endpoint,
                kind=kind[:50],
                dedup_key=dedup_key[:300],
                message=message,
                details=_jsonable(details),
            )
            session.add(row)
            session.flush()
            return _alert(row)

    def alerts(self, endpoint: str | None = None, *, limit: int = 100) -> list[AlertRecord]:
        """Stored alerts, newest first."""
        query = select(AlertRow).order_by(AlertRow.at.desc(), AlertRow.id.desc()).limit(limit)
        if endpoint is not None:
            query = query.where(AlertRow.endpoint == endpoint)
        with self.db.read() as session:
            return [_alert(r) for r in session.scalars(query)]


class ResourceLog:
    """Process CPU and memory samples, one JSON line each, for the drift report's trends.

    Kept beside the metadata database (``.shipyard/monitoring/resources.jsonl``);
    when the file passes ``max_bytes`` its older half is dropped.
    """

    def __init__(self, path: str | Path, *, max_bytes: int = 8 * 1024 * 1024) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes

    def append(self, sample: Mapping[str, Any]) -> None:
        """Add one sample (a JSON-safe mapping with an ``at`` unix time)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(_jsonable(sample), separators=(",", ":")) + "\n")
        if self.path.stat().st_size > self.max_bytes:
            lines = self.path.read_text(encoding="utf-8").splitlines(keepends=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text("".join(lines[len(lines) // 2 :]), encoding="utf-8")
            tmp.replace(self.path)

    def read(
        self, *, since: float | None = None, until: float | None = None
    ) -> list[dict[str, Any]]:
        """Samples within ``[since, until)``, oldest first; unreadable lines are skipped."""
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                sample = json.loads(line)
                at = float(sample["at"])
            except (ValueError, KeyError, TypeError):
                continue
            if (since is None or at >= since) and (until is None or at < until):
                out.append(sample)
        return out


# ---------------------------------------------------------------------- helpers
_SQLITE_INSERT = (
    f"INSERT INTO prediction_events ({', '.join(EVENT_COLUMNS)}) SELECT "
    + ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(EVENT_COLUMNS)))
    + " FROM json_each(?) WHERE true ON CONFLICT (request_id) DO NOTHING"
)
_SQLITE_INSERT_ROWS = (
    f"INSERT INTO prediction_events ({', '.join(EVENT_COLUMNS)}) VALUES ("
    + ", ".join("NULLIF(?, '')" if c == "key" else "?" for c in EVENT_COLUMNS)
    + ") ON CONFLICT (request_id) DO NOTHING"
)
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_KEY, _INPUTS, _OUTPUTS, _SHADOW = map(EVENT_COLUMNS.index, ("key", "inputs", "outputs", "shadow"))
_SQLITE_BOOL = {False: 0, True: 1}
_NAMED = operator.itemgetter(*SERVED_FIELDS[:6])  # the fields an event mapping must have


def _sqlite_bound(rows: list[list[Any]]) -> list[list[Any]]:
    """Rows of event values made what sqlite3 binds as they are (taken over, and returned).

    Inputs and outputs become JSON text. sqlite3 binds exact ints, floats and strings
    directly; anything else, None and bool included, first goes through its adapter
    lookup, which raises and clears an AttributeError (``__conform__``) each time:
    measured with callgrind, 5k of the monitoring worker's 109k instructions per event
    for those two. So ``shadow`` is bound as the int SQLite stores, and a missing
    ``key`` as '' (the statement's ``NULLIF`` stores NULL).
    """
    for r in rows:
        r[_KEY], r[_INPUTS], r[_OUTPUTS], r[_SHADOW] = (
            r[_KEY] or "",
            orjson.dumps(r[_INPUTS]).decode(),
            orjson.dumps(r[_OUTPUTS]).decode(),
            _SQLITE_BOOL[r[_SHADOW]],
        )
    return rows


def encode_json(value: Any) -> bytes:
    """JSON bytes of event data: numpy arrays as (nested) lists, NaN and infinities as null."""
    return orjson.dumps(value, default=json_default, option=_JSON_OPTIONS)


def json_default(value: Any) -> Any:
    """What orjson cannot encode itself, as :func:`encode_json` encodes it."""
    if hasattr(value, "tolist"):  # object arrays (strings), numpy scalars orjson skips
        return value.tolist()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def _insert(db: Database, table: Any) -> Any:
    dialect = db.engine.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise StoreError(f"events cannot be recorded in a {dialect} database")  # pragma: no cover


def _bounded(
    query: Select[Any],
    since: float | None,
    until: float | None,
    model: tuple[str, int] | None,
    shadow: bool | None,
) -> Select[Any]:
    if since is not None:
        query = query.where(PredictionEventRow.at >= since)
    if until is not None:
        query = query.where(PredictionEventRow.at < until)
    if model is not None:
        query = query.where(
            PredictionEventRow.model_name == model[0],
            PredictionEventRow.model_version == model[1],
        )
    if shadow is not None:
        query = query.where(PredictionEventRow.shadow == shadow)
    return query


def served_values(event: Mapping[str, Any] | list[Any]) -> list[Any]:
    """An event as the server sends it, as stored values in :data:`EVENT_COLUMNS` order:
    its id mapped by :func:`event_id`, latency in ms; inputs and outputs as given.

    The event is a mapping of ``PredictionEvent``'s fields (``time``, ``latency_s``), or
    a list of them in :data:`SERVED_FIELDS` order: the monitoring worker's wire form
    (``ProcessWriter.encode``), read without a lookup by name.

    Raises:
        MonitoringError: a field is missing or of the wrong type.
    """
    try:
        if isinstance(event, list):
            rid, at, endpoint, model, ver, variant, key, ins, outs, lat, status, shadow = event
        else:
            rid, at, endpoint, model, ver, variant = _NAMED(event)
            ins, outs, lat = event["inputs"], event["outputs"], event["latency_s"]
            key, status, shadow = event.get("key"), event.get("status"), event.get("shadow")
        shadow = bool(shadow)
        variant = str(variant)
        return [
            event_id(str(rid), variant if shadow else None),
            float(at),
            str(endpoint)[:200],
            str(model)[:200],
            int(ver),
            variant[:100],
            None if key is None else str(key)[:200],
            ins or {},
            outs or {},
            float(lat) * 1000.0,
            int(status or 200),
            shadow,
        ]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MonitoringError(
            f"not a prediction event: {type(exc).__name__}: {exc}",
            hint="send shipyard.serving.PredictionEvent objects, or their fields as a mapping",
        ) from None


def _event_params(row: Mapping[str, Any]) -> list[Any]:
    """One row's values in EVENT_COLUMNS order, typed; inputs and outputs as given."""
    try:
        key = row.get("key")
        return [
            str(row["request_id"]),
            float(row["at"]),
            str(row["endpoint"])[:200],
            str(row["model_name"])[:200],
            int(row["model_version"]),
            str(row["variant"])[:100],
            None if key is None else str(key)[:200],
            row.get("inputs") or {},
            row.get("outputs") or {},
            float(row["latency_ms"]),
            int(row.get("status", 200)),
            bool(row.get("shadow", False)),
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise MonitoringError(
            f"not an event row: {type(exc).__name__}: {exc}",
            hint="build rows with shipyard.monitoring.events.event_row",
        ) from None


def _event(row: PredictionEventRow) -> EventRecord:
    return EventRecord(
        request_id=row.request_id,
        at=row.at,
        endpoint=row.endpoint,
        model_name=row.model_name,
        model_version=row.model_version,
        variant=row.variant,
        inputs=row.inputs or {},
        outputs=row.outputs or {},
        latency_ms=row.latency_ms,
        status=row.status,
        shadow=row.shadow,
        key=row.key,
    )


def _alert(row: AlertRow) -> AlertRecord:
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
    return AlertRecord(row.id, at, row.endpoint, row.kind, row.dedup_key, row.message, row.details)


def _check_outcome(kind: str, value: float) -> None:
    if not isinstance(kind, str) or not kind.strip() or len(kind) > MAX_OUTCOME_KIND:
        raise MonitoringError(
            f"outcome kind {kind!r} is not allowed",
            hint=f"use a short name (1-{MAX_OUTCOME_KIND} characters) such as 'label'",
        )
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise MonitoringError(f"outcome value {value!r} is not a number") from None
    if not math.isfinite(number):
        raise MonitoringError(f"outcome value {value!r} is not finite", hint="pass a finite number")


def _jsonable(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become None, numpy scalars plain numbers."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
