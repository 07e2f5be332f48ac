"""Outcome feedback: ``POST /endpoints/{name}/outcomes`` joins what really happened to a prediction.

A body names the prediction by ``request_id`` (the ``x-request-id`` the response
carried) or by ``key`` (the routing key, e.g. a user id: its newest prediction on
the endpoint), and gives one or more outcomes (``{"outcomes": {"label": 231.5,
"revenue": 12.0}}``, or ``"kind"`` and ``"value"``). A JSON list of such objects
records several at once (at most ``MAX_BATCH``). Posting the same outcome again is
answered 200 with ``"duplicate": true``; another value for a recorded kind is 409;
an unknown request id or key is 404; a malformed body is 400. Every error is
``{"error": message}``.

Events reach the store a moment after their response (the sink writes in batches),
so an id not found yet is looked up again for up to ``WAIT_S`` before the 404.
Outcomes are stored by ``shipyard.store.events.EventStore`` (the SQL event store);
the route answers 403 "outcomes disabled" until ``routing_policies.attach_endpoints``
gives the app a database.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.requests import Request
from starlette.responses import Response

from shipyard.errors import MonitoringError, NotFoundError, ServingError
from shipyard.serving.errors import Conflict, InvalidInput, json_response, oip_error
from shipyard.serving.limits import parse_json, read_body
from shipyard.store.db import Database
from shipyard.store.endpoints import latest_request
from shipyard.store.events import EventStore, OutcomeConflictError

MAX_BODY = 256 * 1024
MAX_BATCH = 1000
MAX_KINDS = 10
WAIT_S = 1.0


class OutcomeBody(BaseModel):
    """One posted outcome (or several kinds of it) for one prediction."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str | None = Field(None, min_length=1, max_length=128)
    key: str | None = Field(None, min_length=1, max_length=200)
    outcomes: dict[str, float] | None = Field(None, min_length=1, max_length=MAX_KINDS)
    kind: str | None = Field(None, min_length=1, max_length=50)
    value: float | None = None

    @field_validator("outcomes")
    @classmethod
    def _finite(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        for kind, number in (value or {}).items():
            if not kind or len(kind) > 50:
                raise ValueError(f"outcome kind {kind[:60]!r} must have 1-50 characters")
            if not math.isfinite(number):
                raise ValueError(f"outcome {kind!r} is not a finite number")
        return value

    def pairs(self) -> dict[str, float]:
        if (self.request_id is None) == (self.key is None):
            raise InvalidInput("give exactly one of request_id or key")
        given = dict(self.outcomes or {})
        if self.kind is not None or self.value is not None:
            if self.kind is None or self.value is None or not math.isfinite(self.value):
                raise InvalidInput("kind and value go together, and value must be finite")
            given[self.kind] = self.value
        if not given:
            raise InvalidInput(
                "no outcome given", hint='send {"outcomes": {"label": 1.0}} or "kind" and "value"'
            )
        return given


class UnknownPrediction(ServingError, LookupError):
    """No prediction of this endpoint matches the posted request id or key."""

    def __init__(self, endpoint: str, what: str, *, hint: str) -> None:
        self.endpoint = endpoint
        super().__init__(f"endpoint '{endpoint}' served no prediction with {what}", hint=hint)


class OutcomesDisabled(ServingError, PermissionError):
    """The server has no event store to record outcomes in."""

    def __init__(self) -> None:
        super().__init__(
            "outcomes disabled: this server has no event store",
            hint="serve the project with `shipyard serve`, which records events and outcomes",
        )


async def post_outcomes(request: Request) -> Response:
    """POST /endpoints/{name}/outcomes"""
    endpoint = request.path_params["name"]
    db: Database | None = getattr(request.app.state, "outcome_db", None)
    try:
        if db is None:
            raise OutcomesDisabled()
        raw = parse_json(await read_body(request, MAX_BODY))
        items = raw if isinstance(raw, list) else [raw]
        if not items or len(items) > MAX_BATCH:
            raise InvalidInput(f"send 1 to {MAX_BATCH} outcomes at once")
        batch = isinstance(raw, list)
        bodies = [_body(item, i if batch else None) for i, item in enumerate(items)]
        events = EventStore(db)
        results = [await _record(events, db, endpoint, b) for b in bodies]
    except Exception as exc:
        return oip_error(exc)
    return json_response(results if batch else results[0])


def _body(item: Any, index: int | None) -> OutcomeBody:
    where = "" if index is None else f"[{index}] "
    try:
        return OutcomeBody.model_validate(item)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        raise InvalidInput(f"{where}{loc}: {err['msg']}") from None


async def _record(
    events: EventStore, db: Database, endpoint: str, body: OutcomeBody
) -> dict[str, Any]:
    given = body.pairs()
    request_id = await _find(events, db, endpoint, body)
    now = time.time()
    recorded = []
    for kind, value in given.items():
        try:
            record = await asyncio.to_thread(events.record_outcome, request_id, kind, value, at=now)
        except OutcomeConflictError as exc:
            raise Conflict(exc.message, hint=exc.hint) from None
        except MonitoringError as exc:
            raise InvalidInput(exc.message, hint=exc.hint) from None
        recorded.append({"kind": kind, "value": record.value, "duplicate": record.at != now})
    return {"endpoint": endpoint, "request_id": request_id, "recorded": recorded}


async def _find(events: EventStore, db: Database, endpoint: str, body: OutcomeBody) -> str:
    deadline = time.monotonic() + WAIT_S
    delay = 0.05
    while True:
        if body.key is not None:
            found = await asyncio.to_thread(latest_request, db, endpoint, body.key)
            if found is not None:
                return found
        else:
            assert body.request_id is not None
            try:
                event = await asyncio.to_thread(events.get, body.request_id)
            except NotFoundError:
                event = None
            if event is not None:
                if event.endpoint != endpoint:
                    raise UnknownPrediction(
                        endpoint, f"request id {body.request_id!r}",
                        hint=f"that request was served by endpoint '{event.endpoint}'",
                    )  # fmt: skip
                return body.request_id
        if time.monotonic() >= deadline:
            what = (
                f"key {body.key!r}" if body.key is not None else f"request id {body.request_id!r}"
            )
            raise UnknownPrediction(
                endpoint, what,
                hint="post outcomes for requests this endpoint served, with the id from the "
                "response's x-request-id header (or the routing key)",
            )  # fmt: skip
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.25)
