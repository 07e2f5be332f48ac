"""Alerts: what they say, dedup within the cool-down, webhooks that fail without raising."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import numpy as np
import pytest
from monitoring_helpers import reference_frame

from shipyard.config import MonitoringSpec
from shipyard.data.profile import profile_frame
from shipyard.errors import ConfigError
from shipyard.monitoring.alerts import Alert, AlertDispatcher, alerts_from_report, check_webhooks
from shipyard.monitoring.drift import DriftDetector
from shipyard.monitoring.window import window_from_columns
from shipyard.project import Project
from shipyard.store.events import EventStore


def _alert(feature: str = "area", statistic: str = "psi") -> Alert:
    return Alert(
        "housing", "drift", feature, statistic, 0.5, 0.2, 2.5, "housing:1", "http://r/housing"
    )


def _spec(**kw: object) -> MonitoringSpec:
    base = {"webhooks": ["http://hooks.test/a"], "webhook_allow_hosts": ["hooks.test"]}
    return MonitoringSpec(**{**base, **kw})


def test_alerts_name_feature_statistic_excess_and_report() -> None:
    live = {c: v.to_numpy() for c, v in reference_frame(1000, seed=3).items()}
    live["area"] = live["area"] + 80.0
    report = DriftDetector(profile_frame(reference_frame())).check(
        window_from_columns(live), endpoint="housing", model="housing:1"
    )
    alerts = alerts_from_report(report, link="https://reports/housing")
    assert {(a.feature, a.statistic) for a in alerts} == {("area", "ks_pvalue"), ("area", "psi")}
    psi = next(a for a in alerts if a.statistic == "psi")
    assert psi.excess == pytest.approx(psi.value / 0.2)
    assert "input 'area' drifted: psi" in psi.message
    assert "the threshold" in psi.message and "report: https://reports/housing" in psi.message
    ks = next(a for a in alerts if a.statistic == "ks_pvalue")
    assert ks.value < 0.01 and "x below" in ks.message
    assert psi.dedup_key == "housing|area|psi"


def test_a_pvalue_that_underflows_reads_as_a_bound_not_a_ratio() -> None:
    shifted = Alert("housing", "drift", "age", "ks_pvalue", 0.0, 0.01, 1e298)
    assert "ks_pvalue < 1e-300, far below 0.01" in shifted.message
    assert "e+298" not in shifted.message
    close = Alert("housing", "drift", "age", "ks_pvalue", 0.002, 0.01, 5.0)
    assert "0.002 < 0.01 (5x below)" in close.message


def test_webhook_receives_json_and_the_store_dedups(project: Project) -> None:
    seen: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(204)

    dispatcher = AlertDispatcher(
        _spec(), EventStore(project.db), transport=httpx.MockTransport(handler)
    )
    first = dispatcher.send([_alert(), _alert(statistic="ks_pvalue")])
    again = dispatcher.send([_alert()])
    assert [d.raised for d in first] == [True, True] and [d.raised for d in again] == [False]
    assert first[0].webhooks == (("http://hooks.test/a", "ok"),)
    assert len(seen) == 2 and seen[0]["alert"]["feature"] == "area"  # type: ignore[index]
    stored = EventStore(project.db).alerts("housing")
    assert sorted(a.dedup_key for a in stored) == ["housing|area|ks_pvalue", "housing|area|psi"]
    # another process (another dispatcher on the same store) agrees it is a duplicate
    other = AlertDispatcher(_spec(), EventStore(project.db), transport=httpx.MockTransport(handler))
    assert [d.raised for d in other.send([_alert()])] == [False]


def test_cooldown_zero_raises_every_time_in_memory() -> None:
    dispatcher = AlertDispatcher(MonitoringSpec(alert_cooldown_s=0))
    assert [d.raised for d in dispatcher.send([_alert(), _alert()])] == [True, True]
    memory = AlertDispatcher(MonitoringSpec(alert_cooldown_s=60))
    assert [d.raised for d in memory.send([_alert(), _alert()])] == [True, False]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_webhook_is_logged_and_never_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    spec = MonitoringSpec(
        webhooks=[f"http://127.0.0.1:{_closed_port()}/hook"],
        webhook_allow_hosts=["127.0.0.1"],
        webhook_timeout_s=1.0,
    )
    dispatcher = AlertDispatcher(spec)
    with caplog.at_level(logging.WARNING, "shipyard.monitoring.alerts"):
        (delivery,) = dispatcher.send([_alert()])
    assert delivery.raised
    assert "ConnectError" in delivery.webhooks[0][1]
    assert dispatcher.failures == 1
    assert any("webhook" in r.message and "failed" in r.message for r in caplog.records)


def test_a_timeout_is_a_failed_delivery() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    dispatcher = AlertDispatcher(_spec(), transport=httpx.MockTransport(slow))
    (delivery,) = dispatcher.send([_alert()])
    assert "ReadTimeout" in delivery.webhooks[0][1]


class _Redirecting(BaseHTTPRequestHandler):
    hits = 0

    def do_POST(self) -> None:
        type(self).hits += 1
        self.send_response(307)
        self.send_header("Location", "http://evil.test/steal")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def redirect_server() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), _Redirecting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def test_a_redirect_is_not_followed(redirect_server: int) -> None:
    spec = MonitoringSpec(
        webhooks=[f"http://127.0.0.1:{redirect_server}/hook"], webhook_allow_hosts=["127.0.0.1"]
    )
    (delivery,) = AlertDispatcher(spec).send([_alert()])
    assert "307 redirecting to evil.test" in delivery.webhooks[0][1]
    assert _Redirecting.hits == 1


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://other.test/x", "host 'other.test'"),
        ("ftp://hooks.test/x", "not an http"),
        ("http://user:pw@hooks.test/x", "credentials"),
        ("hooks.test/x", "not an http"),
    ],
)
def test_webhooks_off_the_allow_list_are_config_errors(url: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        check_webhooks([url], ["hooks.test"])
    with pytest.raises(ConfigError):
        AlertDispatcher(MonitoringSpec(webhooks=[url], webhook_allow_hosts=["hooks.test"]))


def test_a_failing_store_still_alerts_from_memory(project: Project) -> None:
    class Broken(EventStore):
        def record_alert(self, **kw: object) -> None:  # type: ignore[override]
            raise RuntimeError("database down")

    dispatcher = AlertDispatcher(MonitoringSpec(), Broken(project.db))
    assert [d.raised for d in dispatcher.send([_alert(), _alert()])] == [True, False]
    assert np.isfinite(_alert().excess)
