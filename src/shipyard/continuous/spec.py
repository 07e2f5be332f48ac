"""The ``continuous:`` section of shipyard.yaml: what to watch, when to retrain and how, validated once.

One entry per model (the key is the model's name)::

    continuous:
      housing:
        pipeline: housing           # a name under pipelines:
        endpoint: housing           # where its events come from and the canary goes
        dataset_param: dataset      # the pipeline parameter that takes the training set
        triggers:
          drift: true               # drift / output_drift / multivariate_drift alerts
          performance: true         # performance alerts
          schedule_s: 7d            # and at least this often (seconds, or 30s/2m/6h/7d)
        training_set:
          reference: housing-raw    # a stored dataset: the reference window
          reference_share: 0.5      # share of the training set drawn from it
          outcome: label            # the outcome kind that labels an event
          max_events: 5000          # the newest labelled events considered
          min_labelled: 200         # fewer: wait for labels (or fail)
          eval_share: 0.3           # the newest share of them: the frozen evaluation set
          on_insufficient: wait     # wait | fail
        rollout:                    # the canary's steps (see rollout/spec.py); null: no canary
          steps: [{set_weight: 10}, {analysis: {}}, {set_weight: 50}, {analysis: {}}, {set_weight: 100}]
        cooldown_s: 1h              # no new job this soon after the last one ended

``parse_continuous(settings)`` validates every entry and answers a bad one with a
``ConfigError`` naming the key path (``continuous.housing.training_set.eval_share``).
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from shipyard.errors import ConfigError
from shipyard.registry.reference import check_name
from shipyard.rollout.spec import CanarySpec, RolloutSpec

if TYPE_CHECKING:
    from shipyard.config import Settings

DRIFT_KINDS = ("drift", "output_drift", "multivariate_drift")
PERFORMANCE_KINDS = ("performance",)
_DAY = 86400.0


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": _DAY, None: 1.0}


def _duration(value: Any) -> float:
    """Seconds from a number or ``500ms``/``30s``/``2m``/``6h``/``7d``."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT_S[m.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration; write e.g. 30s, 2m, 6h or 7d")
    if not math.isfinite(seconds) or not 0 <= seconds <= 365 * _DAY:
        raise ValueError(f"{value!r} is out of range (0 to 365 days)")
    return seconds


Duration = Annotated[float, BeforeValidator(_duration), Field(ge=0)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TriggerSpec(_Spec):
    """What starts a retraining: monitoring alerts of these kinds, and a schedule."""

    drift: bool = True
    performance: bool = True
    schedule_s: Duration | None = None

    @field_validator("schedule_s")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError("must be more than 0 seconds (leave it out for no schedule)")
        return value

    @property
    def alert_kinds(self) -> tuple[str, ...]:
        return (DRIFT_KINDS if self.drift else ()) + (PERFORMANCE_KINDS if self.performance else ())


class TrainingSetSpec(_Spec):
    """How a training set is built: a sample of the reference window plus recent labelled events."""

    reference: str | None = Field(None, min_length=1, max_length=200)
    reference_share: float = Field(0.5, ge=0, lt=1)
    outcome: str = Field("label", min_length=1, max_length=50)
    target: str | None = Field(None, min_length=1, max_length=200)
    max_events: int = Field(10_000, ge=1, le=1_000_000)
    min_labelled: int = Field(100, ge=2)
    eval_share: float = Field(0.3, gt=0, lt=1)
    on_insufficient: Literal["wait", "fail"] = "wait"
    max_wait_s: Duration = _DAY
    seed: int = 0

    @model_validator(mode="after")
    def _reference_for_share(self) -> TrainingSetSpec:
        chosen = "reference_share" in self.model_fields_set
        if self.reference is None and chosen and self.reference_share > 0:
            raise ValueError(
                "reference_share is more than 0 but no reference dataset is named; "
                "set reference: DATASET, or reference_share: 0"
            )
        return self

    @property
    def share(self) -> float:
        """The share of the training set drawn from the reference (0 without one)."""
        return self.reference_share if self.reference is not None else 0.0


def _default_rollout() -> RolloutSpec:
    return RolloutSpec.model_validate(
        {"steps": [{"set_weight": 10}, {"analysis": {}}, {"set_weight": 50}, {"analysis": {}},
                   {"set_weight": 100}]}
    )  # fmt: skip


class WatchSpec(_Spec):
    """One watched model: its pipeline, endpoint, triggers, training-set policy and canary."""

    model: str
    pipeline: str = Field(min_length=1, max_length=200)
    endpoint: str = Field(min_length=1, max_length=200)
    dataset_param: str = Field("dataset", min_length=1, max_length=200)
    triggers: TriggerSpec = Field(default_factory=TriggerSpec)
    training_set: TrainingSetSpec = Field(
        default_factory=lambda: TrainingSetSpec.model_validate({})
    )
    rollout: RolloutSpec | None = Field(default_factory=_default_rollout)
    cooldown_s: Duration = 3600.0
    max_attempts: int = Field(3, ge=1, le=100)
    n_bootstrap: int = Field(1000, ge=50, le=100_000)

    @field_validator("model")
    @classmethod
    def _model_name(cls, value: str) -> str:
        check_name(value)  # raises InvalidReferenceError (a ValueError) naming the problem
        return value

    @model_validator(mode="after")
    def _canary_is_valid(self) -> WatchSpec:
        if self.rollout is not None:
            # the steps must make a valid canary (set_segment needs a segment, ...)
            CanarySpec.model_validate(
                {"stable": f"{self.model}:1", "canary": f"{self.model}:2", "rollout": self.rollout}
            )
        return self


def parse_continuous(settings: Settings) -> dict[str, WatchSpec]:
    """Every ``continuous:`` entry of the settings, validated, by model name.

    Raises:
        ConfigError: naming each bad key path, the value and what is allowed.
    """
    raw = settings.continuous or {}
    specs: dict[str, WatchSpec] = {}
    problems: list[str] = []
    for key, entry in raw.items():
        where = f"continuous.{key}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be a mapping (pipeline:, endpoint:, ...), "
                            f"not {type(entry).__name__}")  # fmt: skip
            continue
        data = {"model": str(key), **entry}
        try:
            spec = WatchSpec.model_validate(data)
        except ValidationError as exc:
            problems.extend(_problems(where, exc))
            continue
        if spec.pipeline not in settings.pipelines:
            known = ", ".join(sorted(settings.pipelines)) or "none"
            problems.append(
                f"{where}.pipeline: {spec.pipeline!r} is not a pipeline in pipelines: (known: {known})"
            )
        if spec.model in specs:
            problems.append(f"{where}.model: model {spec.model!r} is watched twice")
        specs[spec.model] = spec
    if problems:
        raise ConfigError(
            "shipyard.yaml: " + "; ".join(problems),
            hint="fix the continuous: section; see the shipyard.continuous.spec docstring",
        )
    return specs


def _problems(where: str, exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        key = ".".join([where, *loc])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            out.append(
                f"{key}: unknown key" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
            )
        elif err["type"] == "missing":
            out.append(f"{key}: required, and not given")
        elif isinstance(err.get("input"), dict | list):  # a rule across keys: the message says
            out.append(f"{key}: {msg}")
        else:
            got = repr(err.get("input"))
            out.append(f"{key}: {msg} (got {got if len(got) <= 80 else got[:77] + '...'})")
    return out


def _allowed_keys(path: tuple[str, ...]) -> list[str]:
    """The keys the mapping at ``path`` (inside one entry) may hold."""
    model: Any = WatchSpec
    for part in path:
        field = model.model_fields.get(part)
        if field is None:
            return []
        candidates = (field.annotation, *getattr(field.annotation, "__args__", ()))
        model = next((c for c in candidates if _is_spec(c)), None)
        if model is None:
            return []
    return [k for k in model.model_fields if not (model is WatchSpec and k == "model")]


def _is_spec(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)
