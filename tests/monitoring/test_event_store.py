"""EventStore: events, outcomes joined to them, deduplicated alerts; ResourceLog."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from monitoring_helpers import make_event

from shipyard.errors import MonitoringError, NotFoundError
from shipyard.monitoring.events import event_row
from shipyard.project import Project
from shipyard.store.events import EventStore, OutcomeConflictError, ResourceLog


@pytest.fixture
def store(project: Project) -> EventStore:
    return EventStore(project.db)


def _write(store: EventStore, n: int, *, start: float = 1000.0) -> list[str]:
    rows = [event_row(make_event(i, at=start + i)) for i in range(n)]
    assert store.write(rows) == n
    return [r["request_id"] for r in rows]


def test_write_skips_ids_already_stored_and_ids_repeated_in_a_batch(store: EventStore) -> None:
    ids = _write(store, 5)
    again = [
        event_row(make_event(9, request_id=ids[0])),
        event_row(make_event(10, request_id="new")),
    ]
    again.append(event_row(make_event(11, request_id="new")))
    assert store.write(again) == 1
    assert store.count("housing") == 6
    assert store.get("new").at == again[1]["at"]


def test_write_stores_nan_as_null_and_keeps_strings(store: EventStore) -> None:
    import numpy as np

    row = event_row(make_event(1, request_id="nan"))
    row["inputs"]["area"] = np.array([np.nan, 2.0])
    store.write([row])
    got = store.get("nan")
    assert got.inputs["area"] == [None, 2.0]
    assert got.inputs["region"][0] in ("north", "south", "east")


def test_recent_bounds_by_time_model_and_shadow(store: EventStore) -> None:
    _write(store, 10)
    store.write([event_row(make_event(20, at=1005.5, version=2))])
    store.write([event_row(make_event(21, at=1006.5, shadow=True, request_id="s", variant="v2"))])
    assert [e.at for e in store.recent("housing", since=1007, until=1009)] == [1007.0, 1008.0]
    assert [e.model_version for e in store.recent("housing", model=("housing", 2))] == [2]
    assert [e.request_id for e in store.recent("housing", shadow=True)] == ["s~v2"]
    assert len(store.recent("housing", shadow=None)) == 12
    assert store.endpoints() == ["housing"]
    assert store.delete_before(1005) == 5
    assert store.count() == 7


def test_outcome_is_idempotent_and_joins_its_event(store: EventStore) -> None:
    ids = _write(store, 3)
    first = store.record_outcome(ids[1], "label", 1.0, at=5.0)
    again = store.record_outcome(ids[1], "label", 1.0)
    assert first == again
    store.record_outcome(ids[2], "label", 0.0)
    store.record_outcome(ids[2], "revenue", 12.5)
    pairs = store.joined("housing", "label")
    assert [(e.request_id, o.value) for e, o in pairs] == [(ids[1], 1.0), (ids[2], 0.0)]


def test_outcome_for_an_unknown_request_is_a_clear_error(store: EventStore) -> None:
    with pytest.raises(NotFoundError, match="prediction event 'nope' not found") as info:
        store.record_outcome("nope", "label", 1.0)
    assert "x-request-id" in (info.value.hint or "")


def test_outcome_with_another_value_conflicts(store: EventStore) -> None:
    (rid,) = _write(store, 1)
    store.record_outcome(rid, "label", 1.0)
    with pytest.raises(OutcomeConflictError, match=r"already has outcome 'label' = 1\.0, not 0\.0"):
        store.record_outcome(rid, "label", 0.0)


@pytest.mark.parametrize(
    ("kind", "value"), [("", 1.0), ("x" * 51, 1.0), ("label", float("nan")), ("label", "a")]
)
def test_bad_outcomes_are_refused(store: EventStore, kind: str, value: object) -> None:
    (rid,) = _write(store, 1)
    with pytest.raises(MonitoringError):
        store.record_outcome(rid, kind, value)  # type: ignore[arg-type]


def test_alert_is_stored_once_per_cooldown(store: EventStore) -> None:
    now = datetime.now(UTC)
    args = {"endpoint": "housing", "kind": "drift", "dedup_key": "housing|area|psi", "message": "m"}
    assert store.record_alert(**args, details={"psi": float("inf")}, cooldown_s=60, at=now)
    assert (
        store.record_alert(**args, details={}, cooldown_s=60, at=now + timedelta(seconds=30))
        is None
    )
    later = store.record_alert(**args, details={}, cooldown_s=60, at=now + timedelta(seconds=61))
    assert later is not None
    alerts = store.alerts("housing")
    assert [a.id for a in alerts] == [later.id, alerts[1].id]
    assert alerts[1].details == {"psi": None}


def test_resource_log_reads_back_a_window_and_trims_itself(tmp_path: Path) -> None:
    log = ResourceLog(tmp_path / "r.jsonl", max_bytes=2000)
    for i in range(100):
        log.append({"at": 1000.0 + i, "cpu_ratio": 0.5, "rss_bytes": 1e8})
    samples = log.read()
    assert samples[-1]["at"] == 1099.0 and len(samples) < 100
    assert [s["at"] for s in log.read(since=1097)] == [1097.0, 1098.0, 1099.0]
    (tmp_path / "r.jsonl").open("a").write("not json\n")
    assert len(log.read(since=1097)) == 3
    assert ResourceLog(tmp_path / "missing.jsonl").read() == []


def test_write_decoded_stores_what_write_stores(project: Project, tmp_path: Path) -> None:
    # the monitoring worker stores the batch decoded from the server's JSON
    import numpy as np
    import orjson

    from shipyard.monitoring.offload import _encode_sliced
    from shipyard.store.db import Database

    rows = [event_row(make_event(i, at=1000.0 + i)) for i in range(300)]
    rows[0]["inputs"]["area"] = np.array([np.nan], dtype=np.float32)
    rows[1] = event_row(make_event(1, shadow=True, variant="v2", request_id="s"))
    rows[2]["endpoint"] = "e" * 300  # longer than the column: capped, as write caps it
    rows[3]["key"] = "user-7"
    rows.append(dict(rows[4]))  # an id twice in one batch: the first is kept
    by_rows = EventStore(Database(f"sqlite:///{tmp_path / 'rows.db'}"))
    by_json = EventStore(project.db)
    decoded = orjson.loads(_encode_sliced(rows))
    assert by_rows.write(rows) == by_json.write_decoded(decoded) == 300
    assert by_json.write_decoded(decoded[:10]) == 0  # stored once
    for endpoint in ("housing", "e" * 200):
        assert by_json.recent(endpoint, shadow=None) == by_rows.recent(endpoint, shadow=None)
    assert by_json.get("s~v2").shadow and by_json.get(rows[3]["request_id"]).key == "user-7"
    assert by_json.get(rows[0]["request_id"]).inputs["area"] == [None]
    assert by_json.get(rows[5]["request_id"]).key is None  # bound as '', stored as NULL
