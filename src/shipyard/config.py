"""shipyard.yaml -> typed settings. The only place configuration is read.

Precedence, lowest first: defaults, ``shipyard.yaml``, ``SHIPYARD_*`` environment
variables (``SHIPYARD_STORE``, ``SHIPYARD_SERVING__TOKEN``: a double underscore
descends a level), then ``--set key.path=value`` overrides. ``--set step.param=v``
sets a step parameter when ``step`` is not a top-level key.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shipyard.errors import ConfigError

CONFIG_FILE = "shipyard.yaml"
ENV_PREFIX = "SHIPYARD_"


class Spec(BaseModel):
    """Base of every config section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PipelineSpec(Spec):
    """A named pipeline: where its function lives and its parameters."""

    entry: str = Field(description="'path/file.py:function' or 'package.module:function'")
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("entry")
    @classmethod
    def _entry_has_function(cls, value: str) -> str:
        if ":" not in value:
            raise ValueError("must be 'path/file.py:function' or 'module:function'")
        return value


class GateSpec(Spec):
    """The promotion gate: what a candidate must show to become champion."""

    primary_metric: str = "rmse"
    greater_is_better: bool = False
    min_delta: float = Field(0.0, ge=0.0)
    alpha: float = Field(0.05, gt=0.0, lt=1.0)
    required_suites: list[str] = Field(default_factory=list)
    max_latency_p99_ms: float | None = Field(None, gt=0)
    max_size_mb: float | None = Field(None, gt=0)
    evaluation_dataset: str | None = None


class ServingSpec(Spec):
    """The model server: bind address, limits, batching and the management token."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    token: str | None = None
    max_body_bytes: int = Field(8 * 1024 * 1024, gt=0)
    max_batch_rows: int = Field(10_000, gt=0)
    max_batch_size: int = Field(64, gt=0)
    max_wait_ms: float = Field(2.0, ge=0)
    request_timeout_s: float = Field(10.0, gt=0)


class MonitoringSpec(Spec):
    """Prediction events and drift detection."""

    sink: str = "sqlite"
    sink_url: str | None = None
    queue_size: int = Field(100_000, gt=0)
    drift_window: int = Field(1000, gt=0)
    drift_alpha: float = Field(0.01, gt=0, lt=1)
    psi_threshold: float = Field(0.2, gt=0)
    correction: Literal["bonferroni", "holm", "none"] = "bonferroni"
    webhooks: list[str] = Field(default_factory=list)
    webhook_allow_hosts: list[str] = Field(default_factory=list)


class Settings(Spec):
    """Everything a Shipyard project is configured with."""

    root: Path = Field(default_factory=Path.cwd, description="the project directory")
    store: str = ".shipyard/shipyard.db"
    artifacts: str = ".shipyard/artifacts"
    runner: Literal["local", "ray"] = "local"
    max_workers: int = Field(2, ge=1)
    pipelines: dict[str, PipelineSpec] = Field(default_factory=dict)
    steps: dict[str, dict[str, Any]] = Field(default_factory=dict)
    gate: GateSpec = Field(default_factory=GateSpec)
    serving: ServingSpec = Field(default_factory=ServingSpec)
    endpoints: dict[str, dict[str, Any]] = Field(default_factory=dict)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    continuous: dict[str, Any] = Field(default_factory=dict)

    @property
    def store_url(self) -> str:
        """The SQLAlchemy URL of the metadata store; a bare path means SQLite."""
        if "://" in self.store:
            return self.store
        return f"sqlite:///{(self.root / self.store).resolve()}"

    @property
    def artifacts_url(self) -> str:
        """The artifact root: a local directory, or an fsspec URL such as s3://."""
        if "://" in self.artifacts:
            return self.artifacts
        return str((self.root / self.artifacts).resolve())

    def step_params(self, step: str) -> dict[str, Any]:
        """Parameters configured for one step (empty when none)."""
        return dict(self.steps.get(step, {}))


def load_settings(
    root: str | Path | None = None,
    *,
    overrides: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read the project's settings.

    Args:
        root: the project directory; its ``shipyard.yaml`` is read when present.
        overrides: ``key.path=value`` strings; values are parsed as YAML scalars.
        environ: the environment to read ``SHIPYARD_*`` from (default ``os.environ``).

    Raises:
        ConfigError: naming the file, the key, the bad value and what is allowed.
    """
    root_path = Path(root or Path.cwd()).resolve()
    path = root_path / CONFIG_FILE
    raw = _read_yaml(path) if path.exists() else {}
    source = str(path) if path.exists() else "defaults"
    env = os.environ if environ is None else environ
    for key, value in env.items():
        if key.startswith(ENV_PREFIX) and len(key) > len(ENV_PREFIX):
            dotted = key[len(ENV_PREFIX) :].lower().replace("__", ".")
            _set_path(raw, dotted, _parse_scalar(value), source=f"${key}")
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--set {item!r} is not of the form key.path=value",
                hint="write e.g. --set train.alpha=0.5",
            )
        _set_path(raw, key.strip(), _parse_scalar(value), source=f"--set {item}")
    raw["root"] = root_path
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise _config_error(exc, source) from None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(
            f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level is a {type(data).__name__}",
            hint="it must be a mapping of keys such as store:, pipelines:, gate:",
        )
    return data


def _parse_scalar(value: str) -> Any:
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        return value


_TOP_LEVEL = set(Settings.model_fields)


def _set_path(raw: dict[str, Any], dotted: str, value: Any, *, source: str) -> None:
    parts = [p for p in dotted.split(".")]
    if any(not p for p in parts):
        raise ConfigError(f"{source}: key {dotted!r} has an empty part", hint="write a.b.c")
    if parts[0] not in _TOP_LEVEL:
        # `--set train.alpha=1` is a step parameter: steps.train.alpha
        parts = ["steps", *parts]
    node = raw
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(
                f"{source}: {'.'.join(parts)} descends into {part!r}, which is not a mapping"
            )
        node = child
    node[parts[-1]] = value


def _config_error(exc: ValidationError, source: str) -> ConfigError:
    problems = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        shown = err.get("input")
        got = "" if err["type"] == "missing" else f" (got {shown!r})"
        problems.append(f"{key}: {err['msg']}{got}")
    return ConfigError(f"{source}: " + "; ".join(problems), hint="fix the key or remove it")
