"""A real server app with monitoring attached: events, one /metrics, never a failed prediction."""

from __future__ import annotations

import logging
import socket
from collections import Counter
from typing import Any

import numpy as np
import pytest
from monitoring_helpers import reference_frame
from starlette.testclient import TestClient

from shipyard.bundle.signature import Signature, TensorSpec
from shipyard.data.profile import profile_frame
from shipyard.monitoring import attach, start_monitor
from shipyard.project import Project
from shipyard.serving import InMemorySource, create_app
from shipyard.store.events import EventStore

FEATURES = ("rooms", "area")


class Linear:
    signature = Signature(
        inputs=tuple(TensorSpec(n, "FP64") for n in FEATURES),
        outputs=(TensorSpec("prediction", "FP64"),),
    )

    def predict(self, columns: Any) -> dict[str, Any]:
        return {"prediction": 20.0 * columns["rooms"] + 1.5 * columns["area"]}


def _app() -> Any:
    return create_app(
        InMemorySource({"housing": {1: Linear()}}), endpoints={"housing": "housing:1"}
    )


def _body(rooms: float, area: float) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": "rooms", "shape": [1], "datatype": "FP64", "data": [rooms]},
            {"name": "area", "shape": [1], "datatype": "FP64", "data": [area]},
        ]
    }


def _serve(app: Any, n: int, *, area_shift: float = 0.0) -> list[str]:
    rng = np.random.default_rng(0)
    ids = []
    with TestClient(app) as client:
        for i in range(n):
            body = _body(
                float(rng.uniform(1, 8)),
                float(rng.uniform(30, 300)) + (area_shift if i >= n // 2 else 0),
            )
            response = client.post("/v2/models/housing/infer", json=body)
            assert response.status_code == 200, response.text
            ids.append(response.headers["x-request-id"])
        assert client.get("/metrics").status_code == 200
    # after shutdown: the monitor has written every event and checked every full window
    app.state.metrics_text = app.state.server.metrics.render().decode()
    return ids


def test_every_served_request_has_its_event_after_shutdown(project: Project) -> None:
    app = _app()
    profile = profile_frame(reference_frame()[list(FEATURES)])
    monitor = start_monitor(
        project, registry=app.state.server.metrics.registry, profiles=lambda n, v: profile
    )
    attach(app, monitor)
    ids = _serve(app, 400)
    stored = EventStore(project.db).recent("housing")
    assert sorted(e.request_id for e in stored) == sorted(ids)
    assert monitor.sink.stats().written == 400
    event = EventStore(project.db).get(ids[0])
    assert event.model == "housing:1" and set(event.inputs) == set(FEATURES)


def test_one_metrics_page_without_duplicate_names(project: Project) -> None:
    app = _app()
    monitor = start_monitor(
        project, registry=app.state.server.metrics.registry, profiles=lambda n, v: None
    )
    attach(app, monitor)
    _serve(app, 50)
    text = app.state.metrics_text
    types = Counter(line.split()[2] for line in text.splitlines() if line.startswith("# TYPE"))
    assert [name for name, n in types.items() if n > 1] == []
    for name in ("shipyard_inference_requests", "shipyard_feature_value", "shipyard_prediction_value",
                 "shipyard_events", "shipyard_process_cpu_utilization_ratio"):  # fmt: skip
        assert any(t.removesuffix("_total") == name for t in types), name
    assert (
        'shipyard_feature_value_count{endpoint="housing",feature="area",model_version="housing:1"} 50.0'
        in text
    )


def test_drift_in_served_traffic_raises_an_alert_naming_the_feature(project: Project) -> None:
    project = Project.open(project.root, overrides=["monitoring.drift_window=100"])
    app = _app()
    profile = profile_frame(reference_frame()[list(FEATURES)])
    monitor = start_monitor(
        project, registry=app.state.server.metrics.registry, profiles=lambda n, v: profile
    )
    attach(app, monitor)
    _serve(app, 400, area_shift=250.0)
    assert monitor.watcher is not None
    flagged = [r.drifted_features for r in monitor.watcher.reports]
    assert flagged[0] == [] and flagged[-1] == ["area"]
    alerts = EventStore(project.db).alerts("housing")
    keys = {a.dedup_key for a in alerts}
    assert "housing|area|ks_pvalue" in keys
    # 100-row windows are too small to judge PSI (10 bins: 0.22 by chance alone at 1 in 100)
    assert not any(key.endswith("|psi") for key in keys)
    assert (
        'shipyard_drift_detected{endpoint="housing",feature="area",model_version="housing:1"} 1.0'
        in app.state.metrics_text
    )


def test_a_missing_reference_profile_never_fails_a_prediction(
    project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    project = Project.open(project.root, overrides=["monitoring.drift_window=50"])

    def missing(name: str, version: int) -> None:
        raise LookupError("no profile.json in the bundle")

    app = _app()
    attach(
        app, start_monitor(project, registry=app.state.server.metrics.registry, profiles=missing)
    )
    with caplog.at_level(logging.WARNING, "shipyard.monitoring"):
        ids = _serve(app, 120)
    assert EventStore(project.db).count("housing") == len(ids) == 120
    assert any("reference profile of housing:1 is missing" in r.message for r in caplog.records)


@pytest.mark.redis
@pytest.mark.parametrize("where", ["in process", "worker"])
def test_a_broker_that_is_down_never_fails_a_prediction(project: Project, where: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    project = Project.open(
        project.root,
        overrides=[
            "monitoring.sink=redis",
            f"monitoring.sink_url=redis://127.0.0.1:{port}/0",
            "monitoring.queue_size=50",
            "monitoring.drain_timeout_s=0.5",
        ],
    )
    app = _app()
    profiles = (lambda n, v: None) if where == "in process" else None
    monitor = start_monitor(project, registry=app.state.server.metrics.registry, profiles=profiles)
    attach(app, monitor)
    _serve(app, 200)
    stats = monitor.sink.stats()
    assert stats.emitted == 200 and stats.written == 0
    assert stats.dropped == 200  # 150 at the door (queue of 50), 50 at shutdown
    assert 'shipyard_events_total{result="dropped"}' in app.state.metrics_text


def test_every_metric_on_the_grafana_dashboard_is_exported(project: Project) -> None:
    import json
    import re
    from pathlib import Path

    dashboard = json.loads(
        (Path(__file__).parents[2] / "deploy/grafana/shipyard-dashboard.json").read_text()
    )
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    used = {m for e in exprs for m in re.findall(r"\bshipyard_[a-z_]+", e)}
    app = _app()
    monitor = start_monitor(
        project, registry=app.state.server.metrics.registry, profiles=lambda n, v: None
    )
    attach(app, monitor)
    from monitoring_helpers import make_event

    from shipyard.monitoring.window import served_columns

    categorical = make_event(1)  # a categorical input (region) and output (label)
    categorical.outputs["label"] = np.array(["churns"], dtype=object)
    monitor.metrics.observe(served_columns([categorical]))
    _serve(app, 30)
    monitor.metrics.record_alert("housing", "drift")
    from shipyard.monitoring.drift import DriftDetector
    from shipyard.monitoring.window import window_from_columns

    monitor.metrics.record_drift(
        DriftDetector(profile_frame(reference_frame()[list(FEATURES)])).check(
            window_from_columns({"rooms": np.ones(50), "area": np.ones(50)}),
            endpoint="housing",
            model="housing:1",
        )
    )
    text = app.state.server.metrics.render().decode()
    exported = {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line.startswith("shipyard_")
    }
    assert sorted(m for m in used if m not in exported) == []
    assert len(dashboard["panels"]) > 20 and dashboard["uid"] == "shipyard-serving"


def _register_with_profile(project: Project, out: Any) -> None:
    from sklearn.linear_model import LinearRegression

    from shipyard.bundle import build_bundle
    from shipyard.registry import Registry

    frame = reference_frame()[list(FEATURES)]
    model = LinearRegression().fit(frame, 20.0 * frame["rooms"] + 1.5 * frame["area"])
    build_bundle(model, out, name="housing", input_example=frame.head(5),
                 profile=profile_frame(frame).to_dict(), convert_onnx=False)  # fmt: skip
    assert Registry(project).register("housing", out).version == 1


def test_the_monitoring_worker_stores_checks_drift_and_exports_metrics(
    project: Project, tmp_path: Any
) -> None:
    # the default: metrics, drift checks and writes in the worker process, the profile
    # read from the registered version's bundle, overrides passed on to the worker
    _register_with_profile(project, tmp_path / "bundle")
    project = Project.open(project.root, overrides=["monitoring.drift_window=100"])
    app = _app()
    monitor = start_monitor(project, registry=app.state.server.metrics.registry)
    assert monitor.watcher is None and type(monitor.sink.writer).__name__ == "ProcessWriter"
    attach(app, monitor)
    ids = _serve(app, 400, area_shift=250.0)
    stored = EventStore(project.db).recent("housing")
    assert sorted(e.request_id for e in stored) == sorted(ids)
    alerts = EventStore(project.db).alerts("housing")
    keys = {a.dedup_key for a in alerts}
    assert "housing|area|ks_pvalue" in keys
    # 100-row windows are too small to judge PSI (10 bins: 0.22 by chance alone at 1 in 100)
    assert not any(key.endswith("|psi") for key in keys)
    text = app.state.metrics_text
    types = Counter(line.split()[2] for line in text.splitlines() if line.startswith("# TYPE"))
    assert [name for name, n in types.items() if n > 1] == []
    assert (
        'shipyard_feature_value_count{endpoint="housing",feature="area",model_version="housing:1"} 400.0'
        in text
    )
    assert 'shipyard_events_total{result="written"} 400.0' in text
    assert "shipyard_process_cpu_utilization_ratio" in text  # the server's own, once
