"""Prediction events: what the server tells monitoring about each served prediction.

The server calls ``on_prediction(event)`` on the event loop once the response is
built, before it is sent, so the hook must not block: a sink appends to its queue and
returns (an ``EventSink`` does in well under a microsecond). Shadow predictions' events
follow after the response is sent. An exception in the hook is logged and dropped,
never surfaced to the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger("shipyard.serving")


@dataclass(slots=True)  # not frozen: a frozen dataclass costs a setattr call per field
class PredictionEvent:
    """One served (or mirrored) prediction."""

    request_id: str
    time: float  # unix seconds when the request arrived
    endpoint: str
    model_name: str
    model_version: int
    variant: str
    inputs: Mapping[str, np.ndarray]
    outputs: Mapping[str, np.ndarray]
    latency_s: float
    shadow: bool = False  # a mirrored prediction whose answer was not returned
    status: int = 200  # the HTTP status answered (an error event has no outputs)
    key: str | None = None  # the routing key the variant was chosen by (e.g. a user id)


PredictionHook = Callable[[PredictionEvent], None]


def emit(hook: PredictionHook, event: PredictionEvent) -> None:
    """Call the hook; its failure is logged, never raised."""
    try:
        hook(event)
    except Exception:
        logger.exception("on_prediction hook failed for request %s", event.request_id)
