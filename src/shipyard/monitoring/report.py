"""The monitoring report of one endpoint: drift verdicts, performance, latency and resource trends.

``build_report(project, endpoint, window=...)`` reads the endpoint's newest window of
events from the configured sink, picks the model version that answered most of it,
compares it with that version's reference profile (or ``reference=``, a dataset or a
profile JSON file), compares outputs and (with a domain classifier) all inputs with the
version's first window, scores outcomes when recorded, and adds latency per time bucket,
process resource samples and recent alerts. ``shipyard.monitoring.render`` turns the
report into one self-contained HTML page; ``to_dict`` is its JSON form.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.data.profile import Profile
from shipyard.errors import DataError, MonitoringError
from shipyard.monitoring.drift import (
    DriftDetector,
    DriftReport,
    ReferenceMissingError,
)
from shipyard.monitoring.outcomes import PerformanceReport, performance_drift
from shipyard.monitoring.sinks import open_events
from shipyard.monitoring.window import window_from_events
from shipyard.store.events import EventRecord, EventStore, ResourceLog

if TYPE_CHECKING:
    from shipyard.project import Project

TREND_BUCKETS = 30
TREND_EVENTS = 20_000
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@dataclass(frozen=True)
class WindowSpec:
    """A window by row count (``rows``) or by time (``seconds``)."""

    rows: int | None = None
    seconds: float | None = None

    def describe(self) -> str:
        return f"last {self.rows} rows" if self.rows else f"last {self.seconds:g} s"


def parse_window(text: str | int | None, default_rows: int = 1000) -> WindowSpec:
    """``"1000"`` -> 1000 rows; ``"15m"``, ``"2h"``, ``"30s"``, ``"1d"`` -> a time window.

    Raises:
        MonitoringError: any other spelling, or a window of 0.
    """
    if text is None:
        return WindowSpec(rows=default_rows)
    value = str(text).strip().lower()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd]?)", value)
    if not match or float(match.group(1)) <= 0:
        raise MonitoringError(
            f"window {text!r} is not a row count or a duration",
            hint="write e.g. 1000 (rows), 30s, 15m, 2h or 1d",
        )
    number, unit = match.groups()
    if not unit:
        if "." in number:
            raise MonitoringError(f"window {text!r}: a row count is a whole number")
        return WindowSpec(rows=int(number))
    return WindowSpec(seconds=float(number) * _UNITS[unit])


@dataclass(frozen=True)
class MonitorReport:
    """Everything ``shipyard monitor ENDPOINT`` shows."""

    endpoint: str
    generated_at: float
    window: WindowSpec
    drift: DriftReport
    performance: PerformanceReport | None
    latency: list[dict[str, float]]
    resources: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    reference: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def drifted(self) -> bool:
        return self.drift.drifted or bool(self.performance and self.performance.degraded)

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "generated_at": self.generated_at,
            "window": {"rows": self.window.rows, "seconds": self.window.seconds},
            "drifted": self.drifted,
            "reference": self.reference,
            "drift": self.drift.to_dict(),
            "performance": self.performance.to_dict() if self.performance else None,
            "latency": self.latency,
            "resources": self.resources,
            "alerts": self.alerts,
            "notes": [*self.notes, *self.drift.notes],
        }


def build_report(
    project: Project,
    endpoint: str,
    *,
    window: WindowSpec | None = None,
    reference: str | None = None,
    outcome: str = "label",
    now: float | None = None,
) -> MonitorReport:
    """Check an endpoint's newest window and gather its trends.

    Args:
        window: rows or time (default: ``monitoring.drift_window`` rows).
        reference: a dataset (name or digest) or a profile JSON file to compare inputs
            with, instead of the model version's bundle profile.
        outcome: the outcome kind scored for performance drift.

    Raises:
        MonitoringError: the endpoint has no events, or ``reference`` cannot be read.
    """
    settings = project.settings
    spec = settings.monitoring
    window = window or WindowSpec(rows=spec.drift_window)
    now = time.time() if now is None else now
    source = open_events(settings, project.db)
    events = _current(source, endpoint, window, now)
    notes: list[str] = []
    model, events = _main_model(events, notes)
    name, version = model
    profile, reference_name = _reference(project, name, version, reference, notes)
    current = window_from_events(events)
    baseline = source.recent(endpoint, limit=max(current.rows, 50), model=model, oldest=True)
    baseline = [e for e in baseline if e.at < events[0].at]
    output_reference = reference_rows = None
    if len(baseline) >= 20:
        base_window = window_from_events(baseline)
        output_reference = base_window.outputs
        reference_rows = base_window.inputs
        notes.append(
            f"outputs and the multivariate check compare with the version's first "
            f"{base_window.rows} rows (before the current window)"
        )
    else:
        notes.append("too few events before the current window for an output baseline")
    drift = DriftDetector(profile, spec).check(
        current,
        endpoint=endpoint,
        model=f"{name}:{version}",
        output_reference=output_reference,
        reference_rows=reference_rows,
    )
    trend = source.recent(endpoint, limit=TREND_EVENTS, shadow=None)
    store = EventStore(project.db)
    from shipyard.monitoring.monitor import RESOURCE_LOG

    start = trend[0].at if trend else now - 3600
    return MonitorReport(
        endpoint=endpoint,
        generated_at=now,
        window=window,
        drift=drift,
        performance=_performance(
            store, endpoint, model, outcome, spec.drift_alpha, settings, events[0].at, notes
        ),
        latency=latency_trend(trend),
        resources=ResourceLog(project.root / RESOURCE_LOG).read(since=start),
        alerts=[a.to_dict() for a in store.alerts(endpoint, limit=20)],
        reference=reference_name,
        notes=tuple(notes),
    )


def _current(source: Any, endpoint: str, window: WindowSpec, now: float) -> list[EventRecord]:
    if window.seconds is not None:
        events = source.recent(endpoint, since=now - window.seconds)
    else:
        events = source.recent(endpoint, limit=window.rows)
    if not events:
        raise MonitoringError(
            f"endpoint {endpoint!r} has no prediction events in the {window.describe()}",
            hint="serve some predictions with monitoring on, or widen --window",
        )
    return events


def _main_model(
    events: list[EventRecord], notes: list[str]
) -> tuple[tuple[str, int], list[EventRecord]]:
    counts = Counter((e.model_name, e.model_version) for e in events)
    model, _ = counts.most_common(1)[0]
    if len(counts) > 1:
        others = ", ".join(f"{n}:{v} ({c})" for (n, v), c in counts.items() if (n, v) != model)
        notes.append(
            f"the window also holds events of {others}; only {model[0]}:{model[1]} is checked"
        )
    return model, [e for e in events if (e.model_name, e.model_version) == model]


def _reference(
    project: Project, name: str, version: int, reference: str | None, notes: list[str]
) -> tuple[Profile | None, str]:
    if reference is not None:
        return load_reference(project, reference), reference
    from shipyard.monitoring.monitor import bundle_profile

    try:
        return bundle_profile(project, name, version), f"bundle of {name}:{version}"
    except ReferenceMissingError as exc:
        notes.append(f"{exc.message}: input drift not checked ({exc.hint})")
        return None, "(none)"


def load_reference(project: Project, reference: str) -> Profile:
    """A profile from a JSON file (``Profile.to_dict`` or a dataset's ``show --json``) or a dataset.

    Raises:
        MonitoringError: the file or dataset cannot be read as a profile.
    """
    path = Path(reference)
    if path.suffix == ".json" or path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return Profile.from_dict(data.get("profile", data))
        except (OSError, ValueError, DataError, AttributeError) as exc:
            raise MonitoringError(
                f"reference {reference!r} is not a readable profile: {exc}",
                hint="pass a profile JSON file or a dataset name or digest",
            ) from None
    from shipyard.data.dataset import Dataset

    try:
        return Dataset.load(reference, project).profile
    except LookupError as exc:
        raise MonitoringError(
            f"reference {reference!r} is neither a file nor a dataset: {exc}",
            hint="see `shipyard datasets list`",
        ) from None


def _performance(
    store: EventStore, endpoint: str, model: tuple[str, int], kind: str, alpha: float,
    settings: Any, start: float, notes: list[str],
) -> PerformanceReport | None:  # fmt: skip
    """Outcomes of the current window against those of the version's first requests."""
    if settings.monitoring.sink != "sqlite":
        notes.append("performance drift needs events in the metadata store (sink: sqlite)")
        return None
    current = store.joined(endpoint, kind, model=model, since=start)
    reference = store.joined(
        endpoint,
        kind,
        model=model,
        until=start,
        oldest=True,
        limit=settings.monitoring.drift_window,
    )
    if len(current) < 20 or len(reference) < 20:
        notes.append(
            f"performance drift not checked: {len(reference)} outcomes of kind {kind!r} before "
            f"the window and {len(current)} in it; each side needs 20"
        )
        return None
    try:
        return performance_drift(reference, current, alpha=alpha)
    except MonitoringError as exc:
        notes.append(f"performance drift not checked: {exc.message}")
        return None


def latency_trend(
    events: Sequence[EventRecord], buckets: int = TREND_BUCKETS
) -> list[dict[str, float]]:
    """Requests, p50 and p99 latency (ms) and errors per time bucket, oldest first."""
    if not events:
        return []
    at = np.array([e.at for e in events])
    latency = np.array([e.latency_ms for e in events])
    lo, hi = float(at.min()), float(at.max())
    width = max((hi - lo) / buckets, 1e-9)
    index = np.minimum(((at - lo) / width).astype(int), buckets - 1)
    out = []
    for b in range(buckets):
        mask = index == b
        if not mask.any():
            continue
        values = latency[mask]
        out.append(
            {
                "start": lo + b * width,
                "seconds": width,
                "requests": float(mask.sum()),
                "p50_ms": float(np.quantile(values, 0.5)),
                "p99_ms": float(np.quantile(values, 0.99)),
            }
        )
    return out
