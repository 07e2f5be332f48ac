"""The one exception hierarchy: every error Shipyard raises is a ShipyardError.

Each leaf builds its message from structured fields: what failed, the offending value
and how to fix it. Leaves also subclass a builtin where one fits, so callers that catch
``ValueError`` or ``LookupError`` keep working. Capabilities may add leaves in their own
modules, always under one of the branches below. The HTTP status of each branch is
mapped in one place, ``shipyard.serving.errors``.
"""

from __future__ import annotations


class ShipyardError(Exception):
    """Root of every error Shipyard raises.

    Args:
        message: what went wrong, with the offending value.
        hint: how to fix it; shown after the message.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message}. {hint}" if hint else message)


# Branches, one per capability.
class ConfigError(ShipyardError, ValueError):
    """shipyard.yaml, --set overrides or SHIPYARD_* variables are invalid."""


class StoreError(ShipyardError):
    """The metadata or artifact store failed or was asked for something it lacks."""


class DataError(ShipyardError):
    """A dataset could not be read, written or validated."""


class PipelineError(ShipyardError):
    """A pipeline or step could not be defined, planned or run."""


class TrackingError(ShipyardError):
    """A run could not record a parameter, metric or artifact."""


class ModelTestError(ShipyardError):
    """A model test suite could not be declared or run (not: a test that failed)."""


class EvaluationError(ShipyardError):
    """An evaluation or comparison could not be computed."""


class RegistryError(ShipyardError):
    """A model name, version or alias is unknown, or a registry rule was broken."""


class BundleError(ShipyardError):
    """A bundle could not be built, verified or loaded."""


class ServingError(ShipyardError):
    """The server could not answer a request."""


class RolloutError(ShipyardError):
    """A routing policy or rollout is invalid or cannot proceed."""


class MonitoringError(ShipyardError):
    """Events, metrics, drift or alerts could not be recorded or computed."""


# Leaves shared by several capabilities.
class NotFoundError(StoreError, LookupError):
    """A stored record does not exist."""

    def __init__(self, kind: str, key: str, *, hint: str | None = None) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} '{key}' not found", hint=hint)


class InvalidArgument(ShipyardError, ValueError):
    """An argument given to a computation cannot be used as it is (statistics, metrics).

    Capabilities subclass it together with their branch, e.g.
    ``class MetricInputError(EvaluationError, InvalidArgument)``.
    """

    def __init__(self, name: str, problem: str, *, hint: str) -> None:
        self.name = name
        self.problem = problem
        super().__init__(f"{name} {problem}", hint=hint)


class PathEscapeError(StoreError, ValueError):
    """A user-supplied name would reach outside its root directory."""

    def __init__(self, name: str, root: str) -> None:
        self.name = name
        self.root = root
        super().__init__(
            f"name {name!r} is not allowed: it would reach outside {root}",
            hint="use a relative name without '..', a leading '/', or NUL bytes",
        )


class IntegrityError(BundleError, ValueError):
    """A file does not match the sha256 its manifest vouches for."""

    def __init__(self, path: str, expected: str, actual: str | None) -> None:
        self.path = path
        self.expected = expected
        self.actual = actual
        found = "missing" if actual is None else f"sha256 {actual[:12]}…"
        super().__init__(
            f"{path}: manifest says sha256 {expected[:12]}…, found {found}",
            hint="the bundle was changed after it was built; rebuild or re-download it",
        )


class StepFailed(PipelineError):
    """A step raised; its traceback is stored with the run."""

    def __init__(self, step: str, run_id: str, error: BaseException) -> None:
        self.step = step
        self.run_id = run_id
        self.error = error
        super().__init__(
            f"step '{step}' failed in run {run_id}: {type(error).__name__}: {error}",
            hint=f"see `shipyard runs show {run_id}` for the traceback; "
            "the rerun resumes from the cached steps",
        )
