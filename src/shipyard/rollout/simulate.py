"""A traffic simulator: replay a dataset against a running endpoint, with users and outcomes.

Each row becomes one Open Inference Protocol request (the endpoint's metadata says
which columns are inputs and their datatypes), sent at a steady rate over real HTTP
to a server on this machine only. Every request carries a user id (from a column,
or one of ``users`` synthetic ids, sticky per row) as header ``x-<key>`` and as the
request parameter ``<key>``; a region (from a column, or drawn per user from
``regions``) likewise. With ``outcome_column``, the row's true value is posted as the
request's outcome after its response. Bounded in requests, time and concurrency.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from shipyard.errors import RolloutError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
MAX_REQUESTS = 1_000_000
MAX_DURATION_S = 3600.0
_DTYPES = {
    "BOOL": bool, "UINT8": int, "UINT16": int, "UINT32": int, "UINT64": int, "INT8": int,
    "INT16": int, "INT32": int, "INT64": int, "FP16": float, "FP32": float, "FP64": float,
    "BYTES": str,
}  # fmt: skip


class SimulationError(RolloutError, ValueError):
    """The simulation cannot run as asked."""


@dataclass(frozen=True)
class SimulationSpec:
    """What to replay and how fast.

    Args:
        url: the server, ``http://127.0.0.1:PORT`` (this machine only).
        endpoint: the endpoint to call.
        rate: requests per second.
        duration_s: how long to send for.
        key: the routing key's name (``user_id``): a column of the data, or synthetic.
        users: how many synthetic users when the data has no ``key`` column.
        regions: regions drawn per user when the data has no ``region`` column.
        outcome_column: post this column's value as each request's outcome.
        outcome_kind: the outcome's kind (``label``, ``conversion``, ...).
        concurrency: requests in flight at most.
        seed: for synthetic users and regions.
    """

    url: str
    endpoint: str
    rate: float
    duration_s: float
    key: str | None = "user_id"
    users: int = 1000
    regions: tuple[str, ...] = ()
    outcome_column: str | None = None
    outcome_kind: str = "label"
    concurrency: int = 32
    timeout_s: float = 10.0
    seed: int = 0
    max_requests: int | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or parts.hostname not in {
            h.strip("[]") for h in LOCAL_HOSTS
        }:
            raise SimulationError(
                f"url {self.url!r} is not a server on this machine",
                hint="the simulator only calls http://127.0.0.1:PORT",
            )
        if not (0 < self.rate <= 10_000) or not math.isfinite(self.rate):
            raise SimulationError(
                f"rate {self.rate!r} is out of range", hint="use 0 < rate <= 10000"
            )
        if not (0 < self.duration_s <= MAX_DURATION_S):
            raise SimulationError(
                f"duration {self.duration_s!r} s is out of range",
                hint=f"use 0 < duration <= {MAX_DURATION_S:g} s",
            )
        if not (1 <= self.concurrency <= 1024) or self.users < 1:
            raise SimulationError("concurrency must be 1..1024 and users at least 1")

    @property
    def total(self) -> int:
        planned = math.ceil(self.rate * self.duration_s)
        return min(planned, self.max_requests or MAX_REQUESTS, MAX_REQUESTS)


@dataclass
class SimulationReport:
    """What was sent and what came back."""

    sent: int = 0
    ok: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    variants: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    outcomes_posted: int = 0
    outcomes_failed: int = 0
    outcome_errors: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    assignments: dict[str, set[str]] = field(default_factory=dict)  # user -> variants

    def to_dict(self) -> dict[str, Any]:
        lat = np.array(self.latencies_ms) if self.latencies_ms else None
        return {
            "sent": self.sent,
            "ok": self.ok,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "variants": dict(self.variants),
            "shares": {k: v / max(self.ok, 1) for k, v in self.variants.items()},
            "latency_p50_ms": None if lat is None else float(np.median(lat)),
            "latency_p99_ms": None if lat is None else float(np.quantile(lat, 0.99)),
            "outcomes_posted": self.outcomes_posted,
            "outcomes_failed": self.outcomes_failed,
            "outcome_errors": dict(self.outcome_errors),
            "elapsed_s": self.elapsed_s,
            "rate": self.sent / self.elapsed_s if self.elapsed_s else None,
            "users": len(self.assignments),
            "users_on_several_variants": sum(len(v) > 1 for v in self.assignments.values()),
            "users_by_variant": dict(
                Counter(next(iter(v)) for v in self.assignments.values() if len(v) == 1)
            ),
        }


def simulate(
    spec: SimulationSpec, data: Any, stop: threading.Event | None = None
) -> SimulationReport:
    """Replay ``data`` (a pandas DataFrame) against the endpoint; blocks until done.

    ``stop``, when set from another thread, ends the replay early (requests in flight
    and their outcomes still finish).
    """
    return asyncio.run(simulate_async(spec, data, stop))


async def simulate_async(
    spec: SimulationSpec, data: Any, stop: threading.Event | None = None
) -> SimulationReport:
    import httpx

    if len(data) == 0:
        raise SimulationError("the data file has no rows")
    base = spec.url.rstrip("/")
    limits = httpx.Limits(max_connections=spec.concurrency)
    async with httpx.AsyncClient(timeout=spec.timeout_s, limits=limits) as client:
        inputs = await _signature(client, base, spec.endpoint)
        missing = [n for n, _ in inputs if n not in data.columns]
        if missing:
            raise SimulationError(
                f"the data has no column for input(s) {missing}",
                hint=f"its columns: {', '.join(map(str, data.columns[:20]))}",
            )
        if spec.outcome_column is not None and spec.outcome_column not in data.columns:
            raise SimulationError(f"the data has no outcome column {spec.outcome_column!r}")
        rows = _Rows(spec, data, inputs)
        report = SimulationReport()
        gate = asyncio.Semaphore(spec.concurrency)
        feedback = asyncio.Semaphore(spec.concurrency)
        started = time.perf_counter()
        tasks: list[asyncio.Task[Any]] = []
        for i in range(spec.total):
            due = started + i / spec.rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.perf_counter() - started > spec.duration_s + 1.0:
                break  # the server is slower than the rate: stop on time, not on count
            if stop is not None and stop.is_set():
                break
            await gate.acquire()
            tasks.append(
                asyncio.create_task(_one(client, base, spec, rows, i, report, gate, feedback))
            )
        while tasks:  # outcome posts add tasks while requests finish
            done, tasks = tasks, []
            for task in done:
                follow = await task
                if follow is not None:
                    tasks.append(follow)
        report.elapsed_s = time.perf_counter() - started
    return report


class _Rows:
    """Request bodies, headers and truths for row ``i`` (cycling through the data)."""

    def __init__(self, spec: SimulationSpec, data: Any, inputs: Sequence[tuple[str, str]]) -> None:
        self.spec = spec
        self.data = data
        self.inputs = inputs
        rng = np.random.default_rng(spec.seed)
        self.n = len(data)
        if spec.key and spec.key in data.columns:
            self.users = [str(u) for u in data[spec.key]]
        else:
            self.users = [f"user-{u}" for u in rng.integers(0, spec.users, self.n)]
        if "region" in data.columns:
            self.regions: list[str | None] = [str(r) for r in data["region"]]
        elif spec.regions:
            by_user: dict[str, str] = {}
            self.regions = [
                by_user.setdefault(u, str(rng.choice(spec.regions))) for u in self.users
            ]
        else:
            self.regions = [None] * self.n

    def request(self, i: int) -> tuple[dict[str, Any], dict[str, str], str]:
        k = i % self.n
        row = self.data.iloc[k]
        tensors = []
        for name, datatype in self.inputs:
            value = row[name]
            cast = _DTYPES.get(datatype, str)
            value = (
                None if _missing(value) else cast(value.item() if hasattr(value, "item") else value)
            )
            tensors.append({"name": name, "shape": [1], "datatype": datatype, "data": [value]})
        user = self.users[k]
        params: dict[str, Any] = {}
        headers = {"x-request-id": f"sim-{self.spec.seed}-{i}-{time.time_ns() % 10**9}"}
        if self.spec.key:
            params[self.spec.key] = user
            headers["x-" + self.spec.key.replace("_", "-")] = user
        region = self.regions[k]
        if region is not None:
            params.setdefault("region", region)
            headers["x-region"] = region
        return {"inputs": tensors, "parameters": params}, headers, user

    def truth(self, i: int) -> float | None:
        column = self.spec.outcome_column
        if column is None:
            return None
        value = self.data.iloc[i % self.n][column]
        return None if _missing(value) else float(value)


def _missing(value: Any) -> bool:
    try:
        return value is None or (isinstance(value, float) and math.isnan(value))
    except TypeError:
        return False


async def _signature(client: Any, base: str, endpoint: str) -> list[tuple[str, str]]:
    import httpx

    try:
        response = await client.get(f"{base}/v2/models/{endpoint}")
    except httpx.HTTPError as exc:
        raise SimulationError(
            f"cannot reach {base}: {type(exc).__name__}", hint="start it with `shipyard serve`"
        ) from None
    if response.status_code != 200:
        raise SimulationError(
            f"endpoint {endpoint!r}: {response.status_code} {response.text[:200]}",
            hint="check the endpoint's name with GET /v2/models",
        )
    return [(t["name"], t["datatype"]) for t in response.json().get("inputs", [])]


async def _one(
    client: Any, base: str, spec: SimulationSpec, rows: _Rows, i: int,
    report: SimulationReport, gate: asyncio.Semaphore, feedback: asyncio.Semaphore,
) -> asyncio.Task[None] | None:  # fmt: skip
    """Send request ``i``; return the task posting its outcome, if it has one."""
    import httpx

    try:
        body, headers, user = rows.request(i)
        report.sent += 1
        t0 = time.perf_counter()
        try:
            response = await client.post(
                f"{base}/v2/models/{spec.endpoint}/infer", json=body, headers=headers
            )
        except httpx.HTTPError:
            report.statuses[0] += 1  # no HTTP answer: refused, reset or timed out
            return None
    finally:
        gate.release()
    report.latencies_ms.append((time.perf_counter() - t0) * 1000)
    report.statuses[response.status_code] += 1
    if response.status_code != 200:
        return None
    report.ok += 1
    variant = response.headers.get("x-shipyard-variant", "?")
    report.variants[variant] += 1
    report.assignments.setdefault(user, set()).add(variant)
    truth = rows.truth(i)
    if truth is None:
        return None
    rid = response.headers["x-request-id"]
    return asyncio.create_task(_post_outcome(client, base, spec, rid, truth, report, feedback))


async def _post_outcome(
    client: Any, base: str, spec: SimulationSpec, request_id: str, value: float,
    report: SimulationReport, gate: asyncio.Semaphore,
) -> None:  # fmt: skip
    import httpx

    body = {"request_id": request_id, "outcomes": {spec.outcome_kind: value}}
    try:
        async with gate:
            response = await client.post(f"{base}/endpoints/{spec.endpoint}/outcomes", json=body)
    except httpx.HTTPError as exc:
        report.outcomes_failed += 1
        report.outcome_errors[type(exc).__name__] += 1
        return
    if response.status_code == 200:
        report.outcomes_posted += 1
    else:
        report.outcomes_failed += 1
        report.outcome_errors[str(response.status_code)] += 1
