"""Endpoint specs in a running server: apply them, keep them in step with the store.

``apply_spec`` is the one way a spec reaches the router: it loads every version the
spec names (a hot swap: new versions are loaded before the endpoint points at them),
checks routed features against their signatures, builds the policy
(``shipyard.rollout.policies``) and swaps it in. A spec refused at any point leaves
the endpoint on its last good routing.

``EndpointSync`` keeps the router in step with the endpoints table: at startup it
stores ``shipyard.yaml``'s endpoints the store does not have yet and applies every
stored one; then it polls the table's revisions (``poll_s``) and applies each change
(``shipyard deploy``, a rollout step) without a restart; a revision that cannot be
applied leaves the last good routing in place and is retried every ``RETRY_S``
(``GET /management/endpoints`` shows why). It also runs the rollout
controller (``RolloutRunner``) in a thread, so rollouts advance while the server runs.
Wire it with ``attach_endpoints(app, db, settings)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.applications import Starlette

from shipyard.config import Settings
from shipyard.rollout.policies import build_policy, check_fields
from shipyard.rollout.routing import RoutingPolicy, Variant
from shipyard.rollout.spec import CanarySpec, EndpointSpec, dump_endpoint, parse_endpoint, pin
from shipyard.serving.errors import ModelNotFound
from shipyard.serving.runtime import Runtime
from shipyard.serving.state import ServerState
from shipyard.store.db import Database
from shipyard.store.endpoints import EndpointStore
from shipyard.store.rollouts import RolloutActiveError, RolloutStore

logger = logging.getLogger("shipyard.serving")
RETRY_S = 10.0  # a stored revision that failed to apply is tried again this often


def is_ready(runtime: Runtime, variant: Variant) -> bool:
    """Whether the variant's version is loaded and not being unloaded."""
    try:
        return runtime.get(variant.model, variant.version).ready
    except ModelNotFound:
        return False


async def apply_spec(
    server: ServerState, endpoint: str, spec: EndpointSpec, *, where: str = ""
) -> RoutingPolicy:
    """Load the spec's versions, check its fields, and route ``endpoint`` by it.

    Raises:
        LookupError: a reference names no model, version or alias.
        EndpointSpecError: a routed feature is missing from a version's inputs.
    """
    resolved: dict[str, Variant] = {}
    inputs: dict[str, list[str]] = {}
    for role, reference in spec.references().items():
        served = await server.runtime.load(reference)
        resolved[role] = Variant(role, reference, served.name, served.version)
        inputs[role] = served.signature.input_names
    check_fields(endpoint, spec, inputs, where=where)
    runtime = server.runtime
    policy = build_policy(endpoint, spec, resolved, ready=lambda v: is_ready(runtime, v))
    server.router.assign(endpoint, policy)
    return policy


def pinned(spec: EndpointSpec, policy: RoutingPolicy) -> EndpointSpec:
    """``spec`` with every reference replaced by the version the server loaded for it."""
    return pin(spec, {v.name: v.label for v in policy.variants})


class EndpointSync:
    """Applies the endpoints table to one server: at startup, on each poll, on each PUT.

    Args:
        server: the app's state.
        db: the project's metadata database.
        settings: ``endpoints:`` of shipyard.yaml seed the store.
        poll_s: how often the table's revisions are read.
    """

    def __init__(
        self,
        server: ServerState,
        db: Database,
        *,
        settings: Settings | None = None,
        poll_s: float = 1.0,
    ) -> None:
        self.server = server
        self.db = db
        self.store = EndpointStore(db)
        self.settings = settings
        self.poll_s = poll_s
        self.applied: dict[str, int] = {}
        self.errors: dict[str, str] = {}
        self._failed: dict[str, tuple[int, float]] = {}  # revision that failed, and when
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Seed the store from shipyard.yaml, then apply every stored endpoint.

        Raises:
            EndpointSpecError: an endpoint of shipyard.yaml is invalid (naming its key).
        """
        for name, raw in (self.settings.endpoints if self.settings else {}).items():
            where = f"shipyard.yaml endpoints.{name}"
            spec = parse_endpoint(name, raw, where=where)
            if await asyncio.to_thread(self.store.get, name) is None:
                await self.put(
                    name, spec, actor="shipyard.yaml", reason="from shipyard.yaml", where=where
                )
        await self.sync()

    async def sync(self) -> None:
        """Apply every endpoint whose stored revision this server has not applied."""
        revisions = await asyncio.to_thread(self.store.revisions)
        now = time.monotonic()
        async with self._lock:
            for name, revision in revisions.items():
                if self.applied.get(name) == revision:
                    continue
                failed = self._failed.get(name)
                if failed is not None and failed[0] == revision and now - failed[1] < RETRY_S:
                    continue
                record = await asyncio.to_thread(self.store.get, name)
                if record is None:
                    continue
                try:
                    spec = parse_endpoint(
                        name, dict(record.spec), where=f"stored endpoint {name!r}"
                    )
                    await apply_spec(self.server, name, spec)
                except Exception as exc:  # keep the last good routing; say why; retry later
                    self.errors[name] = f"revision {record.revision} not applied: {exc}"
                    self._failed[name] = (record.revision, now)
                    logger.error("endpoint %s: %s", name, self.errors[name])
                    continue
                self.errors.pop(name, None)
                self._failed.pop(name, None)
                self.applied[name] = record.revision
                logger.info("endpoint %s: applied revision %d", name, record.revision)
            for name in [n for n in self.applied if n not in revisions]:
                del self.applied[name]
                if self.server.router.get(name) is not None:
                    self.server.router.remove(name)

    async def put(
        self,
        name: str,
        spec: EndpointSpec,
        *,
        actor: str,
        reason: str | None = None,
        where: str = "",
    ) -> tuple[RoutingPolicy, int]:
        """Apply ``spec`` now, store it (pinned) as the endpoint's next revision, and start
        its rollout when it is a canary with steps.

        Raises:
            RolloutActiveError: a rollout of the endpoint is running or paused.
        """
        rollout = isinstance(spec, CanarySpec) and spec.rollout is not None
        if rollout:
            active = await asyncio.to_thread(RolloutStore(self.db).active, name)
            if active:
                raise RolloutActiveError(name, active[0].id, active[0].state)
        async with self._lock:
            policy = await apply_spec(self.server, name, spec, where=where)
            stored = pinned(spec, policy)
            record = await asyncio.to_thread(
                self.store.put, name, dump_endpoint(stored), actor=actor, reason=reason
            )
            self.applied[name] = record.revision
            self.errors.pop(name, None)
        if rollout:
            assert isinstance(stored, CanarySpec)
            await asyncio.to_thread(_start_rollout, self.db, name, stored, actor)
        return policy, record.revision

    async def delete(self, name: str, *, actor: str) -> RoutingPolicy:
        """Stop routing ``name`` here and remove it from the store.

        Raises:
            ModelNotFound: no such endpoint is routed.
        """
        async with self._lock:
            policy = self.server.router.remove(name)
            if await asyncio.to_thread(self.store.get, name) is not None:
                await asyncio.to_thread(self.store.delete, name, actor=actor)
            self.applied.pop(name, None)
            return policy

    async def run(self) -> None:
        """Poll until cancelled; a failed poll is logged and retried."""
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                await self.sync()
            except Exception:
                logger.exception("endpoint poll failed")

    def describe(self) -> Mapping[str, Any]:
        return {"applied": dict(self.applied), "errors": dict(self.errors)}


def _start_rollout(db: Database, name: str, spec: CanarySpec, actor: str) -> None:
    from shipyard.rollout.analysis import StoreMetricsSource
    from shipyard.rollout.controller import RolloutController
    from shipyard.store.events import EventStore

    RolloutController(db, StoreMetricsSource(EventStore(db))).start(name, spec, actor=actor)


def attach_endpoints(
    app: Starlette,
    db: Database,
    settings: Settings | None = None,
    *,
    poll_s: float = 1.0,
    rollouts: bool = True,
) -> EndpointSync:
    """Wire stored endpoints, their polling and the rollout controller into an app.

    The store's endpoints are applied before the app's own startup, so an endpoint
    given on the command line wins until the store next changes; the poll and the
    controller stop when the app shuts down.
    """
    from shipyard.rollout.analysis import StoreMetricsSource
    from shipyard.rollout.controller import RolloutController, RolloutRunner
    from shipyard.store.events import EventStore

    server: ServerState = app.state.server
    sync = EndpointSync(server, db, settings=settings, poll_s=poll_s)
    app.state.endpoint_sync = sync
    app.state.outcome_db = db  # POST /endpoints/{name}/outcomes records into its event store
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        await sync.start()
        async with inner(a) as state:
            poll = asyncio.create_task(sync.run(), name="shipyard-endpoint-poll")
            runner = None
            if rollouts:
                controller = RolloutController(db, StoreMetricsSource(EventStore(db)))
                runner = RolloutRunner(controller, interval_s=poll_s).start()
            try:
                yield state
            finally:
                poll.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poll
                if runner is not None:
                    await asyncio.to_thread(runner.stop)

    app.router.lifespan_context = lifespan
    return sync
