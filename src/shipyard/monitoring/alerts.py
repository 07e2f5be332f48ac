"""Alerts: a drifted feature (or other finding) told to the log, to webhooks and to the store.

Each alert names the endpoint, the feature, the statistic, how far beyond its
threshold it is, and links to the drift report. Alerts are deduplicated: the same
endpoint + feature + statistic is raised once per cool-down (checked in the store,
so several server processes agree; in memory when there is no store).

Webhooks are POSTed JSON, only to hosts on ``monitoring.webhook_allow_hosts``; a
redirect is never followed (a 3xx answer counts as a failed delivery), every call
has a timeout, and no failure ever reaches the caller: it is logged and counted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from shipyard.config import MonitoringSpec
from shipyard.errors import ConfigError
from shipyard.monitoring.drift import DriftReport, below
from shipyard.store.events import EventStore

logger = logging.getLogger("shipyard.monitoring.alerts")


@dataclass(frozen=True)
class Alert:
    """One finding worth a human's attention."""

    endpoint: str
    kind: str  # drift | output_drift | multivariate_drift | performance
    feature: str
    statistic: str
    value: float
    threshold: float
    excess: float  # how far beyond the threshold (see StatisticResult.excess)
    model: str = ""
    report: str = ""  # a link to the drift report
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def dedup_key(self) -> str:
        return f"{self.endpoint}|{self.feature}|{self.statistic}"

    @property
    def message(self) -> str:
        what = {"drift": "input", "output_drift": "output", "performance": "performance of"}.get(
            self.kind, self.kind
        )
        if self.statistic.endswith("pvalue"):
            how = below(self.value, self.threshold)
        else:
            how = f"{self.value:.4g} > {self.threshold:g} ({self.excess:.3g}x the threshold)"
        text = f"{self.endpoint} ({self.model}): {what} '{self.feature}' drifted: {self.statistic} {how}"
        return text + (f"; report: {self.report}" if self.report else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "kind": self.kind,
            "feature": self.feature,
            "statistic": self.statistic,
            "value": self.value,
            "threshold": self.threshold,
            "excess": self.excess,
            "model": self.model,
            "report": self.report,
            "message": self.message,
            "details": self.details,
        }


def alerts_from_report(report: DriftReport, *, link: str = "") -> list[Alert]:
    """One alert per statistic beyond its threshold, per drifted feature or output."""
    alerts = []
    for kind, features in (("drift", report.features), ("output_drift", report.outputs)):
        for feature in features:
            for stat in feature.statistics:
                if not stat.exceeded or stat.threshold is None:
                    continue
                value = stat.adjusted_pvalue if stat.adjusted_pvalue is not None else stat.value
                alerts.append(
                    Alert(
                        endpoint=report.endpoint,
                        kind=kind,
                        feature=feature.feature,
                        statistic=f"{stat.name}_pvalue"
                        if stat.adjusted_pvalue is not None
                        else stat.name,
                        value=float(value),
                        threshold=float(stat.threshold),
                        excess=float(stat.excess or 0.0),
                        model=report.model,
                        report=link,
                        details={"statistic": stat.to_dict(), "window": report.window.to_dict()},
                    )
                )
    mv = report.multivariate
    if mv is not None and mv.drifted:
        alerts.append(
            Alert(
                report.endpoint, "multivariate_drift", "(all inputs)", "domain_classifier_auc",
                mv.auc, mv.threshold, mv.auc / mv.threshold, report.model, link,
                {"pvalue": mv.pvalue, "features": list(mv.features)},
            )
        )  # fmt: skip
    return alerts


def report_link(spec: MonitoringSpec, endpoint: str, fallback: str = "") -> str:
    """Where an alert points: ``report_url`` (``{endpoint}`` filled in) or ``fallback``."""
    if spec.report_url:
        return spec.report_url.replace("{endpoint}", endpoint)
    return fallback or f"shipyard monitor {endpoint} --report drift-{endpoint}.html"


def check_webhooks(urls: Iterable[str], allow_hosts: Iterable[str]) -> list[str]:
    """The webhook URLs, validated: http(s), no credentials, host on the allow-list.

    Raises:
        ConfigError: naming the URL and what is wrong with it.
    """
    allowed = {h.lower().rstrip(".") for h in allow_hosts}
    checked = []
    for url in urls:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        if parts.scheme not in ("http", "https") or not host:
            raise ConfigError(
                f"monitoring.webhooks: {url!r} is not an http(s) URL",
                hint="write e.g. https://hooks.example.com/shipyard",
            )
        if parts.username or parts.password:
            raise ConfigError(
                f"monitoring.webhooks: {_redact(url)} carries credentials",
                hint="put the token in the path or query of the URL, not before the host",
            )
        if host not in allowed:
            raise ConfigError(
                f"monitoring.webhooks: host {host!r} of {_redact(url)} is not allowed",
                hint=f"add {host!r} to monitoring.webhook_allow_hosts",
            )
        checked.append(url)
    return checked


@dataclass(frozen=True)
class Delivery:
    """What happened to one alert: stored or deduplicated, and each webhook's result."""

    alert: Alert
    raised: bool  # False: a duplicate within the cool-down
    webhooks: tuple[tuple[str, str], ...] = ()  # (url, "ok" | error)


class AlertDispatcher:
    """Raises alerts: dedup, then log, store and POST to each webhook. Never raises.

    Args:
        spec: webhooks, allowed hosts, timeout and cool-down.
        store: where alerts are stored and deduplicated; None keeps dedup in memory.
        transport: an httpx transport (tests pass a MockTransport).

    Raises:
        ConfigError: at construction, for a webhook that is not allowed.
    """

    def __init__(
        self, spec: MonitoringSpec, store: EventStore | None = None, *, transport: Any = None
    ) -> None:
        self.spec = spec
        self.store = store
        self.webhooks = check_webhooks(spec.webhooks, spec.webhook_allow_hosts)
        self._transport = transport
        self._recent: dict[str, float] = {}
        self._lock = threading.Lock()
        self.failures = 0

    def send(self, alerts: Sequence[Alert]) -> list[Delivery]:
        """Raise each alert that is not a duplicate; returns what happened to each."""
        out = []
        for alert in alerts:
            try:
                out.append(self._send(alert))
            except Exception as exc:  # an alert must never break the caller
                self.failures += 1
                logger.exception("alert for %s could not be raised: %s", alert.dedup_key, exc)
                out.append(Delivery(alert, False, (("(all)", f"{type(exc).__name__}: {exc}"),)))
        return out

    def _send(self, alert: Alert) -> Delivery:
        if not self._first_in_cooldown(alert):
            logger.debug("alert %s suppressed: raised within the cool-down", alert.dedup_key)
            return Delivery(alert, False)
        logger.warning("ALERT %s", alert.message)
        results = tuple((url, self._post(url, alert)) for url in self.webhooks)
        return Delivery(alert, True, results)

    def _first_in_cooldown(self, alert: Alert) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._recent.get(alert.dedup_key)
        if last is not None and now - last < self.spec.alert_cooldown_s:
            return False  # raised by this process within the cool-down: no store round trip
        if self.store is not None:
            try:
                stored = self.store.record_alert(
                    endpoint=alert.endpoint,
                    kind=alert.kind,
                    dedup_key=alert.dedup_key,
                    message=alert.message,
                    details=alert.to_dict(),
                    cooldown_s=self.spec.alert_cooldown_s,
                )
                with self._lock:
                    self._recent[alert.dedup_key] = now
                return stored is not None
            except Exception as exc:  # the store is down: fall back to memory, still alert
                logger.warning("alert store failed (%s); deduplicating in memory", exc)
        with self._lock:
            last = self._recent.get(alert.dedup_key)
            if last is not None and now - last < self.spec.alert_cooldown_s:
                return False
            self._recent[alert.dedup_key] = now
        return True

    def _post(self, url: str, alert: Alert) -> str:
        import httpx

        try:
            with httpx.Client(
                timeout=self.spec.webhook_timeout_s,
                follow_redirects=False,
                transport=self._transport,
            ) as client:
                response = client.post(url, json={"alert": alert.to_dict(), "text": alert.message})
        except httpx.HTTPError as exc:
            return self._failed(url, f"{type(exc).__name__}: {exc}")
        if response.is_redirect:
            target = urlsplit(response.headers.get("location", "")).hostname or "(same host)"
            return self._failed(
                url,
                f"answered {response.status_code} redirecting to {target}; redirects are not followed",
            )
        if response.status_code >= 400:
            return self._failed(url, f"answered HTTP {response.status_code}")
        return "ok"

    def _failed(self, url: str, why: str) -> str:
        self.failures += 1
        logger.warning("alert webhook %s failed: %s", _redact(url), why)
        return why


def _redact(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{parts.path}"
