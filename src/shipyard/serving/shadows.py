"""Keep a broken shadow from costing the primary: a breaker per shadow version, quiet logs.

A mirrored prediction runs in the server's own process after the response, so a
shadow that fails on every request, or hangs, would still spend the primary's CPU
(and, hanging, pile up calls). ``ShadowGuard`` stops mirroring to a version after
``failures`` failures in a row for ``pause_s`` (then lets one call through to probe
it), and skips it while ``max_in_flight`` of its calls are still running. Skipped
mirrors are counted and reported with the next warning, at most one per
``log_every_s`` per version.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

logger = logging.getLogger("shipyard.serving")


@dataclass
class _State:
    failures: int = 0
    open_until: float = 0.0
    in_flight: int = 0
    skipped: int = 0
    quiet: int = 0
    logged_at: float = -math.inf


class ShadowGuard:
    """Decides whether a shadow version gets this mirrored call; counts what it skips."""

    def __init__(
        self,
        *,
        failures: int = 5,
        pause_s: float = 1.0,
        max_in_flight: int = 64,
        log_every_s: float = 10.0,
    ) -> None:
        self.failures = failures
        self.pause_s = pause_s
        self.max_in_flight = max_in_flight
        self.log_every_s = log_every_s
        self._states: dict[str, _State] = {}

    def admit(self, label: str) -> bool:
        """True when the call may go ahead (and is then counted in flight until ``done``)."""
        state = self._states.setdefault(label, _State())
        if state.in_flight >= self.max_in_flight or time.monotonic() < state.open_until:
            state.skipped += 1
            return False
        state.in_flight += 1
        return True

    def done(self, label: str, error: BaseException | None = None, request_id: str = "") -> None:
        """Record how an admitted call ended; a failure may open the breaker and is logged."""
        state = self._states.setdefault(label, _State())
        state.in_flight = max(0, state.in_flight - 1)
        if error is None:
            state.failures = 0
            return
        state.failures += 1
        now = time.monotonic()
        if state.failures >= self.failures:
            state.open_until = now + self.pause_s
            state.failures = self.failures - 1  # after the pause, one more failure reopens it
        if now - state.logged_at < self.log_every_s:
            state.quiet += 1
            return
        more = []
        if state.quiet:
            more.append(f"{state.quiet} more failures")
        if state.skipped:
            more.append(f"{state.skipped} mirrored calls skipped")
        suffix = f" ({', '.join(more)} since the last warning)" if more else ""
        logger.warning("shadow %s failed for request %s: %s%s", label, request_id, error, suffix)
        state.logged_at, state.quiet, state.skipped = now, 0, 0

    def stats(self, label: str) -> dict[str, int]:
        state = self._states.get(label, _State())
        return {"in_flight": state.in_flight, "skipped": state.skipped}
