"""When to retrain a model: new monitoring alerts, a schedule, or a person asking.

An alert counts once: only alerts stored after the model's last job ended and after
its champion last moved are new (an alert raised while a retraining ran, or about a
champion since replaced, is about a model no longer in charge). A schedule is due
``schedule_s`` after the newer of the last job's start and the newest model version.
Nothing triggers within ``cooldown_s`` of the last job's end.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shipyard.continuous.spec import WatchSpec
from shipyard.store.events import AlertRecord, EventStore
from shipyard.store.registry import RegistryStore
from shipyard.store.training_jobs import TrainingJob

MAX_ALERTS = 200


@dataclass(frozen=True)
class Trigger:
    """Why a job starts: ``alert``, ``schedule`` or ``manual``."""

    kind: str
    reason: str
    alerts: tuple[int, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "reason": self.reason,
            "alerts": list(self.alerts),
            **dict(self.details),
        }


@dataclass(frozen=True)
class TriggerCheck:
    """A trigger that fired, or the note saying why none did."""

    trigger: Trigger | None
    note: str


def check_triggers(
    spec: WatchSpec,
    *,
    last_job: TrainingJob | None,
    events: EventStore,
    registry: RegistryStore,
    now: float,
) -> TriggerCheck:
    """Whether ``spec.model`` is due for a retraining now (its last job has ended)."""
    if last_job is not None:
        ended = last_job.updated_at.timestamp()
        if now - ended < spec.cooldown_s:
            return TriggerCheck(
                None,
                f"cooling down until {_iso(ended + spec.cooldown_s)} after job {last_job.id[:8]}",
            )
    since = _alerts_since(spec.model, last_job, registry)
    kinds = spec.triggers.alert_kinds
    if kinds:
        fresh = _new_alerts(events, spec.endpoint, kinds, since)
        if fresh:
            newest = fresh[0]
            counts: dict[str, int] = {}
            for alert in fresh:
                counts[alert.kind] = counts.get(alert.kind, 0) + 1
            summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
            return TriggerCheck(
                Trigger(
                    "alert",
                    f"{summary} alert(s) on {spec.endpoint}; newest: {newest.message}",
                    tuple(a.id for a in fresh),
                    {"kinds": sorted(counts), "endpoint": spec.endpoint},
                ),
                "",
            )
    schedule = spec.triggers.schedule_s
    if schedule is not None:
        last = _last_training(spec.model, last_job, registry)
        if last is None or now - last >= schedule:
            since_text = "never trained" if last is None else f"last trained {_iso(last)}"
            return TriggerCheck(
                Trigger(
                    "schedule",
                    f"due every {schedule:g}s; {since_text}",
                    (),
                    {"schedule_s": schedule},
                ),
                "",
            )
        return TriggerCheck(
            None, f"no new alerts; next scheduled retraining {_iso(last + schedule)}"
        )
    return TriggerCheck(None, "no new alerts" if kinds else "no triggers configured")


def _new_alerts(
    events: EventStore, endpoint: str, kinds: tuple[str, ...], since: float | None
) -> list[AlertRecord]:
    """Alerts of these kinds on the endpoint stored after ``since``, newest first."""
    found = []
    for alert in events.alerts(endpoint, limit=MAX_ALERTS):
        if since is not None and alert.at.timestamp() <= since:
            break  # newest first: the rest are older
        if alert.kind in kinds:
            found.append(alert)
    return found


def _alerts_since(
    model: str, last_job: TrainingJob | None, registry: RegistryStore
) -> float | None:
    moments = []
    if last_job is not None:
        moments.append(last_job.updated_at.timestamp())
    moved = (
        [e.at for e in registry.history(model, "champion")] if registry.find_model(model) else []
    )
    if moved:
        moments.append(_utc(moved[-1]).timestamp())
    return max(moments) if moments else None


def _last_training(
    model: str, last_job: TrainingJob | None, registry: RegistryStore
) -> float | None:
    moments = []
    if last_job is not None:
        moments.append(last_job.created_at.timestamp())
    latest = registry.latest_version(model) if registry.find_model(model) else None
    if latest is not None:
        version = registry.find_version(model, latest)
        if version is not None:
            moments.append(_utc(version.created_at).timestamp())
    return max(moments) if moments else None


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
