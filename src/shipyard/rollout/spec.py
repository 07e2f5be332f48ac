"""Declared endpoint routing and rollout steps: the pydantic specs and their one parser.

An endpoint's spec arrives from ``shipyard.yaml`` (``endpoints:``), the management API
or ``shipyard deploy``; ``parse_endpoint`` validates it once, naming where it came
from and the offending key. The shapes read like their peers' (PROTOCOLS.md §4)::

    endpoints:
      housing:
        strategy: canary            # single | canary | ab | shadow | blue_green
        stable: housing:3
        canary: housing:4
        weight: 10                  # percent of (matching) requests to the canary
        key: header:x-user-id       # optional: sticky assignment by a hashed key
        segment: {field: feature:region, values: [VN]}   # canary first for these
        rollout:
          steps:
            - set_weight: 5
            - pause: 30s
            - analysis: {interval: 10s, count: 3}
            - set_segment: [VN, TH, ID]
            - set_segment: null     # everyone
            - set_weight: 100

A field (``key``, ``segment.field``) is ``header:NAME``, ``parameter:NAME`` (the
inference protocol's request parameters) or ``feature:NAME`` (an input feature).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from shipyard.errors import RolloutError
from shipyard.registry.reference import NAME_PATTERN, parse_ref

STRATEGIES = ("single", "canary", "ab", "shadow", "blue_green")
FIELD_SOURCES = ("header", "parameter", "feature")
MAX_STEPS = 100
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class EndpointSpecError(RolloutError, ValueError):
    """An endpoint's routing or rollout spec is invalid; names where it came from and the key."""

    def __init__(self, where: str, problems: list[str], *, hint: str | None = None) -> None:
        self.where = where
        self.problems = tuple(problems)
        super().__init__(
            f"{where}: {'; '.join(problems)}",
            hint=hint or "fix the value; the endpoint keeps its last good routing",
        )


def parse_duration(value: Any) -> float:
    """``30s``, ``2m``, ``1h``, ``500ms`` or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT_S[m.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration; write e.g. 30s, 2m, 1h or 500ms")
    if not math.isfinite(seconds) or seconds < 0 or seconds > 30 * 86400:
        raise ValueError(f"{value!r} is out of range (0 to 30 days)")
    return seconds


Duration = Annotated[float, Field(ge=0)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldRef(_Spec):
    """Where a routing key or segment value is read: a header, a parameter or a feature."""

    source: Literal["header", "parameter", "feature"]
    name: str = Field(min_length=1, max_length=200)

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            source, sep, name = value.partition(":")
            if not sep:
                raise ValueError(
                    f"{value!r} names no source; write header:NAME, parameter:NAME or feature:NAME"
                )
            return {"source": source.strip(), "name": name.strip()}
        if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in FIELD_SOURCES:
            ((source, name),) = value.items()
            return {"source": source, "name": name}
        return value

    @field_validator("name")
    @classmethod
    def _header_lower(cls, value: str) -> str:
        return value.strip()

    @model_serializer
    def _as_text(self) -> str:
        return f"{self.source}:{self.name}"

    def __str__(self) -> str:
        return f"{self.source}:{self.name}"


class SegmentSpec(_Spec):
    """Requests whose ``field`` is one of ``values`` are the canary's segment."""

    field: FieldRef
    values: list[str] = Field(min_length=1, max_length=1000)

    @field_validator("values", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [str(v) for v in value]
        return value


# ---------------------------------------------------------------------- analysis
class ErrorRateSpec(_Spec):
    """Fail when the canary's error rate exceeds the stable's by more than ``max_increase``."""

    max_increase: float = Field(0.01, ge=0, le=1)


class LatencySpec(_Spec):
    """Fail when the canary is more than ``max_ratio`` x slower than stable, typically or
    at the ``quantile`` (more of its requests there than the stable's own share)."""

    max_ratio: float = Field(1.5, gt=1)
    quantile: float = Field(0.99, gt=0.5, lt=1)


class ShiftSpec(_Spec):
    """Fail when the canary's predictions are distributed too far from the stable's."""

    metric: Literal["psi", "jensen_shannon"] = "psi"
    max: float = Field(0.2, gt=0)
    output: str | None = None  # default: the first output
    bins: int = Field(10, ge=2, le=100)


class OutcomeSpec(_Spec):
    """Compare an online outcome (label, conversion, revenue) between canary and stable.

    ``metric``: ``abs_error`` (|prediction - label|, lower is better), ``accuracy``
    (prediction == label), ``value`` (the outcome itself, higher is better), or
    ``auto`` (abs_error for numeric predictions, accuracy for labels).
    """

    kind: str = Field("label", min_length=1, max_length=50)
    metric: Literal["auto", "abs_error", "accuracy", "value"] = "auto"
    max_degradation: float = Field(0.0, ge=0)  # in the metric's units
    output: str | None = None
    required: bool = False  # when False, too few outcomes never holds a rollout back


class AnalysisSpec(_Spec):
    """How an analysis step judges the canary against the stable version.

    Every ``interval`` the controller looks at the requests since the step began; a
    failed criterion rolls back at once; after ``count`` looks the step passes, or,
    when a required criterion is still inconclusive, waits (``wait``, up to
    ``max_wait``) or pauses for a person (``pause``), as Argo Rollouts does.
    """

    interval: Duration = 10.0
    count: int = Field(3, ge=1, le=1000)
    min_samples: int = Field(50, ge=1)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    error_rate: ErrorRateSpec | None = Field(default_factory=ErrorRateSpec)
    latency: LatencySpec | None = Field(default_factory=LatencySpec)
    prediction_shift: ShiftSpec | None = Field(default_factory=ShiftSpec)
    outcome: OutcomeSpec | None = Field(default_factory=OutcomeSpec)
    segment_by: FieldRef | None = None  # analyse each value of this feature too
    on_inconclusive: Literal["pause", "wait"] = "pause"
    max_wait: Duration = 600.0

    @field_validator("interval", "max_wait", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)

    @field_validator("segment_by")
    @classmethod
    def _feature_only(cls, value: FieldRef | None) -> FieldRef | None:
        if value is not None and value.source != "feature":
            raise ValueError("segment_by must be a feature (feature:NAME): events store inputs")
        return value

    @property
    def duration_s(self) -> float:
        return self.interval * self.count


class StepSpec(_Spec):
    """One rollout step: ``set_weight``, ``set_segment``, ``pause`` or ``analysis``."""

    kind: Literal["set_weight", "set_segment", "pause", "analysis"]
    weight: float | None = Field(None, ge=0, le=100)
    segment: list[str] | None = None
    duration: float | None = None  # pause: None waits for `shipyard rollout resume`
    analysis: dict[str, Any] | None = None  # overrides of the rollout's analysis defaults

    @model_validator(mode="before")
    @classmethod
    def _from_user_form(cls, value: Any) -> Any:
        if not isinstance(value, dict) or "kind" in value:
            return value
        if len(value) != 1:
            raise ValueError(
                f"a step has exactly one of set_weight, set_segment, pause, analysis; "
                f"got {sorted(value)}"
            )
        ((kind, arg),) = value.items()
        if kind == "set_weight":
            return {"kind": kind, "weight": arg}
        if kind == "set_segment":
            if arg is not None and not isinstance(arg, list):
                raise ValueError("set_segment takes a list of values, or null for everyone")
            return {"kind": kind, "segment": None if arg is None else [str(v) for v in arg]}
        if kind == "pause":
            if isinstance(arg, dict):
                arg = arg.get("duration")
            return {"kind": kind, "duration": None if arg is None else parse_duration(arg)}
        if kind == "analysis":
            return {"kind": kind, "analysis": dict(arg or {})}
        raise ValueError(f"unknown step {kind!r}; use set_weight, set_segment, pause or analysis")

    @model_validator(mode="after")
    def _complete(self) -> StepSpec:
        if self.kind == "set_weight" and self.weight is None:
            raise ValueError("set_weight needs a percent from 0 to 100")
        if self.kind == "analysis":
            AnalysisSpec.model_validate(self.analysis or {})  # overrides must be valid alone
        return self

    @model_serializer
    def _user_form(self) -> dict[str, Any]:
        if self.kind == "set_weight":
            return {"set_weight": self.weight}
        if self.kind == "set_segment":
            return {"set_segment": self.segment}
        if self.kind == "pause":
            return {"pause": self.duration}
        return {"analysis": dict(self.analysis or {})}

    def describe(self) -> str:
        if self.kind == "set_weight":
            return f"set_weight {self.weight:g}"
        if self.kind == "set_segment":
            return "set_segment " + ("everyone" if self.segment is None else ",".join(self.segment))
        if self.kind == "pause":
            return "pause" + ("" if self.duration is None else f" {self.duration:g}s")
        return "analysis"


class RolloutSpec(_Spec):
    """Progressive rollout steps and the analysis defaults they share."""

    steps: list[StepSpec] = Field(min_length=1, max_length=MAX_STEPS)
    analysis: AnalysisSpec = Field(default_factory=AnalysisSpec)

    def analysis_for(self, step: StepSpec) -> AnalysisSpec:
        """The analysis step's spec: the defaults with the step's overrides."""
        merged = {**self.analysis.model_dump(mode="json"), **(step.analysis or {})}
        return AnalysisSpec.model_validate(merged)


# ---------------------------------------------------------------------- strategies
def _check_ref(value: str) -> str:
    parse_ref(value)  # raises InvalidReferenceError, a ValueError, naming the problem
    return value.strip()


Reference = Annotated[str, Field(min_length=1, max_length=320), AfterValidator(_check_ref)]


class _Strategy(_Spec):
    def references(self) -> dict[str, str]:  # pragma: no cover - each strategy has its own
        raise NotImplementedError

    def fields(self) -> list[FieldRef]:
        """Every field the policy routes on."""
        return []


class SingleSpec(_Strategy):
    """All traffic to one model version."""

    strategy: Literal["single"] = "single"
    model: Reference

    def references(self) -> dict[str, str]:
        return {"default": self.model}


class CanarySpec(_Strategy):
    """``weight`` percent of (segment-matching) requests to the canary, the rest to stable."""

    strategy: Literal["canary"] = "canary"
    stable: Reference
    canary: Reference
    weight: float = Field(0.0, ge=0, le=100)
    key: FieldRef | None = None
    segment: SegmentSpec | None = None
    salt: str | None = Field(None, max_length=200)
    rollout: RolloutSpec | None = None

    @model_validator(mode="after")
    def _segment_steps(self) -> CanarySpec:
        steps = self.rollout.steps if self.rollout is not None else []
        if self.segment is None and any(s.kind == "set_segment" and s.segment for s in steps):
            raise ValueError(
                "rollout.steps use set_segment, but no segment.field says what to match; "
                "add segment: {field: feature:region, values: [...]}"
            )
        return self

    def references(self) -> dict[str, str]:
        return {"stable": self.stable, "canary": self.canary}

    def fields(self) -> list[FieldRef]:
        return [f for f in (self.key, self.segment.field if self.segment else None) if f]


class ABVariantSpec(_Spec):
    name: str = Field(min_length=1, max_length=100)
    model: Reference
    weight: float = Field(ge=0, le=100)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_PATTERN.fullmatch(value):
            raise ValueError(f"variant name {value!r} must hold only letters, digits, _ . -")
        return value


class ABSpec(_Strategy):
    """Two or more variants with weights summing to 100, sticky by a hashed key."""

    strategy: Literal["ab"] = "ab"
    variants: list[ABVariantSpec] = Field(min_length=2, max_length=20)
    key: FieldRef
    salt: str | None = Field(None, max_length=200)

    @model_validator(mode="after")
    def _weights(self) -> ABSpec:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names repeat: {names}")
        total = sum(v.weight for v in self.variants)
        if abs(total - 100.0) > 1e-6:
            raise ValueError(
                f"variant weights sum to {total:g}; they must sum to 100 "
                f"(got {', '.join(f'{v.name}={v.weight:g}' for v in self.variants)})"
            )
        return self

    def references(self) -> dict[str, str]:
        return {v.name: v.model for v in self.variants}

    def fields(self) -> list[FieldRef]:
        return [self.key]


class MirrorSpec(_Spec):
    name: str | None = Field(None, max_length=100)
    model: Reference
    percent: float = Field(100.0, ge=0, le=100)


class ShadowSpec(_Strategy):
    """The primary answers; each shadow gets a mirrored copy of ``percent`` of requests."""

    strategy: Literal["shadow"] = "shadow"
    primary: Reference
    shadows: list[MirrorSpec] = Field(min_length=1, max_length=5)

    @model_validator(mode="after")
    def _names(self) -> ShadowSpec:
        names = self.shadow_names()
        if len(set(names)) != len(names) or "primary" in names:
            raise ValueError(f"shadow names must be unique and not 'primary': {names}")
        return self

    def shadow_names(self) -> list[str]:
        default = ["shadow"] if len(self.shadows) == 1 else []
        return [
            s.name or (default[0] if default else f"shadow-{i + 1}")
            for i, s in enumerate(self.shadows)
        ]

    def references(self) -> dict[str, str]:
        return {"primary": self.primary} | {
            n: s.model for n, s in zip(self.shadow_names(), self.shadows, strict=True)
        }


class BlueGreenSpec(_Strategy):
    """Two versions loaded; ``active`` takes all traffic, the other waits warm."""

    strategy: Literal["blue_green"] = "blue_green"
    blue: Reference
    green: Reference
    active: Literal["blue", "green"] = "blue"

    def references(self) -> dict[str, str]:
        return {"blue": self.blue, "green": self.green}


EndpointSpec = SingleSpec | CanarySpec | ABSpec | ShadowSpec | BlueGreenSpec


class _Envelope(_Spec):
    spec: Annotated[EndpointSpec, Field(discriminator="strategy")]


def parse_endpoint(name: str, raw: Any, *, where: str | None = None) -> EndpointSpec:
    """Validate one endpoint's spec.

    Args:
        name: the endpoint name.
        raw: the mapping as written; ``policy`` is accepted for ``strategy``, and a
            bare reference string means ``single``.
        where: what to name in errors, e.g. ``shipyard.yaml endpoints.housing``.

    Raises:
        EndpointSpecError: naming ``where``, the key and the problem.

    Example:
        >>> parse_endpoint("housing", {"strategy": "single", "model": "housing:3"})
        SingleSpec(strategy='single', model='housing:3')
    """
    where = where or f"endpoint {name!r}"
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or len(name) > 200:
        raise EndpointSpecError(
            where, [f"endpoint name {str(name)[:60]!r} must hold only letters, digits, _ . -"]
        )
    if isinstance(raw, str):
        raw = {"strategy": "single", "model": raw}
    if not isinstance(raw, dict):
        raise EndpointSpecError(where, [f"must be a mapping, not {type(raw).__name__}"])
    data = dict(raw)
    key = "strategy"
    if "policy" in data and "strategy" not in data:
        key = "policy"  # the management API's first spelling
        data["strategy"] = data.pop("policy")
    data.setdefault("strategy", "single")
    if data["strategy"] not in STRATEGIES:
        raise EndpointSpecError(
            where,
            [f"{key}: {str(data['strategy'])[:60]!r} is unknown"],
            hint=f"use one of {', '.join(STRATEGIES)}",
        )
    try:
        return _Envelope.model_validate({"spec": data}).spec
    except ValidationError as exc:
        raise EndpointSpecError(where, _problems(exc)) from None


def dump_endpoint(spec: EndpointSpec) -> dict[str, Any]:
    """The JSON form stored and returned; ``parse_endpoint`` reads it back unchanged."""
    return spec.model_dump(mode="json", exclude_none=True)


def _problems(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors()[:10]:
        loc = [str(p) for p in err["loc"][2:]]  # drop "spec" and the union tag
        key = ".".join(loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required, and not given"
        problems.append(f"{key}: {msg}" if key else msg)
    return problems


def pin(spec: EndpointSpec, refs: dict[str, str]) -> EndpointSpec:
    """``spec`` with each role's reference replaced by ``refs[role]`` (e.g. ``housing:4``).

    Deploying pins aliases to the versions they name now, so an alias that moves
    later (``champion`` promoted mid-rollout) changes no running endpoint.
    """
    data = dump_endpoint(spec)
    if isinstance(spec, SingleSpec):
        data["model"] = refs.get("default", spec.model)
    elif isinstance(spec, CanarySpec):
        data["stable"] = refs.get("stable", spec.stable)
        data["canary"] = refs.get("canary", spec.canary)
    elif isinstance(spec, ABSpec):
        for v in data["variants"]:
            v["model"] = refs.get(v["name"], v["model"])
    elif isinstance(spec, ShadowSpec):
        data["primary"] = refs.get("primary", spec.primary)
        for name, shadow in zip(spec.shadow_names(), data["shadows"], strict=True):
            shadow["model"] = refs.get(name, shadow["model"])
    else:
        data["blue"] = refs.get("blue", spec.blue)
        data["green"] = refs.get("green", spec.green)
    return _Envelope.model_validate({"spec": data}).spec
