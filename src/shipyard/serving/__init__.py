"""Serving: the model server (ASGI), speaking the Open Inference Protocol and MLflow's.

A request's path, in four hops:
    ASGI route (``inference.answer``) -> the endpoint's routing policy picks a variant
    (``router``) -> the version's batcher predicts in its own thread, or inline when
    the model is fast and nothing is queued (``batching``) -> the response is encoded (``oip`` / ``mlflow_protocol``).
The prediction event is queued as the response is built (a non-blocking hook); shadow
predictions run after the response is sent and never call back into the router.

Models enter by registry reference only, through a ``ModelSource``
(``NAME:VERSION``, ``NAME@ALIAS``); ``InMemorySource`` serves Predictor objects built
in code. Validation at the door (``validation``, ``limits``) turns bad input into a
4xx naming the field; ``errors`` maps every error to its HTTP status in one place.
"""

from shipyard.serving.app import create_app
from shipyard.serving.events import PredictionEvent, PredictionHook
from shipyard.serving.process import run, serve
from shipyard.serving.router import (
    Decision,
    RouteContext,
    Router,
    RoutingPolicy,
    SinglePolicy,
    Variant,
)
from shipyard.serving.source import InMemorySource, ModelSource, ResolvedModel

__all__ = [
    "Decision",
    "InMemorySource",
    "ModelSource",
    "PredictionEvent",
    "PredictionHook",
    "ResolvedModel",
    "RouteContext",
    "Router",
    "RoutingPolicy",
    "SinglePolicy",
    "Variant",
    "create_app",
    "run",
    "serve",
]
