"""shipyard.yaml -> typed settings. The only place configuration is read.

Precedence, lowest first: defaults, ``shipyard.yaml``, ``SHIPYARD_*`` environment
variables (``SHIPYARD_STORE``, ``SHIPYARD_SERVING__TOKEN``: a double underscore
descends a level), then ``--set key.path=value`` overrides. ``--set step.param=v``
sets a step parameter when ``step`` is not a top-level key.
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
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
    """Prediction events, drift detection and alerts."""

    enabled: bool = True
    # sqlite: the metadata store (any SQL store); parquet: files under sink_url;
    # redis: a stream (sink_url redis://...); nats: a JetStream stream (nats://...)
    sink: Literal["sqlite", "parquet", "redis", "nats"] = "sqlite"
    sink_url: str | None = None
    sink_process: bool = True  # metrics, drift and writes in a worker process, off the server
    # the worker's CPU priority: idle runs it only on CPU time the server does not want
    worker_priority: Literal["idle", "low", "normal"] = "idle"
    queue_size: int = Field(100_000, gt=0)
    # block: back-pressure, never lose (embedded default); drop_oldest / drop_new: count drops
    # (brokers' default, so a broker that is down never slows a request)
    overflow: Literal["block", "drop_oldest", "drop_new"] | None = None
    block_timeout_s: float = Field(5.0, gt=0)
    drain_timeout_s: float = Field(10.0, ge=0)  # at shutdown, how long to write what is queued
    batch_size: int = Field(1000, gt=0)
    flush_interval_s: float | None = Field(None, gt=0)
    stream: str = Field("shipyard-events", pattern=r"^[A-Za-z0-9_-]{1,100}$")
    stream_maxlen: int = Field(1_000_000, gt=0)
    drift_window: int = Field(1000, gt=0)
    drift_window_s: float | None = Field(None, gt=0)
    drift_alpha: float = Field(0.01, gt=0, lt=1)
    psi_threshold: float = Field(0.2, gt=0)
    correction: Literal["bonferroni", "holm", "bh", "none"] = "bonferroni"
    multivariate: bool = True
    webhooks: list[str] = Field(default_factory=list)
    webhook_allow_hosts: list[str] = Field(default_factory=list)
    webhook_timeout_s: float = Field(3.0, gt=0, le=60)
    alert_cooldown_s: float = Field(3600.0, ge=0)
    report_url: str | None = None  # links in alerts: may hold {endpoint}


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
    # behavioral suites by name; a raw dict here (config imports no pandas),
    # validated by shipyard.testing.spec.parse_suites where the suites are run
    tests: dict[str, dict[str, Any]] = Field(default_factory=dict)

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
        overrides: ``key.path=value`` strings. A value for a text setting (``store``,
            ``serving.token``, ...) is taken as written; any other value is parsed as
            a YAML scalar (``0.5``, ``true``, ``[a, b]``). An empty value clears an
            optional setting.
        environ: the environment to read ``SHIPYARD_*`` from (default ``os.environ``).

    Raises:
        ConfigError: naming the file (or the variable, or the ``--set``), the key, the
            bad value and what is allowed.
    """
    root_path = Path(root or Path.cwd()).resolve()
    path = root_path / CONFIG_FILE
    text = _read_text(path) if path.exists() else None
    raw = _parse_yaml(text, path) if text is not None else {}
    source = str(path) if text is not None else "defaults"
    origins: dict[tuple[str, ...], str] = {}  # key path -> the variable or --set that set it
    env = os.environ if environ is None else environ
    for key, value in sorted(env.items()):
        if key.startswith(ENV_PREFIX) and len(key) > len(ENV_PREFIX):
            dotted = key[len(ENV_PREFIX) :].lower().replace("__", ".")
            parts = _set_path(raw, dotted, value, source=f"${key}")
            origins[parts] = f"${key}"
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--set {item!r} is not of the form key.path=value",
                hint="write e.g. --set train.alpha=0.5",
            )
        parts = _set_path(raw, key.strip(), value, source=f"--set {item}")
        origins[parts] = f"--set {item}"
    raw["root"] = root_path
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        lines = _key_lines(text) if text is not None else {}
        raise _config_error(exc, source, origins, lines) from None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})") from None


def _parse_yaml(text: str, path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(
            f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})",
            hint="check the indentation and quoting around that line",
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level is a {type(data).__name__}",
            hint="it must be a mapping of keys such as store:, pipelines:, gate:",
        )
    return data


def _key_lines(text: str) -> dict[tuple[str, ...], int]:
    """The line of each key in the YAML text, for pointing at a bad value."""
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                here = (*path, str(key.value))
                lines[here] = key.start_mark.line + 1
                walk(value, here)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*path, str(i))] = item.start_mark.line + 1
                walk(item, (*path, str(i)))

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, ())
    return lines


_TOP_LEVEL = set(Settings.model_fields)


def _set_path(raw: dict[str, Any], dotted: str, text: str, *, source: str) -> tuple[str, ...]:
    """Set ``raw[a][b][c]`` from ``a.b.c``; returns the full key path that was set."""
    parts = dotted.split(".")
    if any(not p for p in parts):
        raise ConfigError(f"{source}: key {dotted!r} has an empty part", hint="write a.b.c")
    if parts[0] not in _TOP_LEVEL:
        if len(parts) == 1:
            raise ConfigError(
                f"{source}: {dotted!r} is not a setting",
                hint=f"settings are {', '.join(sorted(_TOP_LEVEL - {'root'}))}; "
                "a step parameter is written step.parameter",
            )
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
    node[parts[-1]] = _value_for(tuple(parts), text)
    return tuple(parts)


def _value_for(parts: tuple[str, ...], text: str) -> Any:
    """An override's value: as written for a text setting, else parsed as YAML.

    Parsing a token such as ``0123`` or ``yes`` as YAML would turn it into 83 or True.
    """
    target = _annotation(parts)
    if target is not None and _is_text(target):
        optional = type(None) in typing.get_args(target)
        return None if optional and text == "" else text
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _annotation(parts: Sequence[str]) -> Any:
    """The declared type at a key path of Settings, or None when it is not declared."""
    current: Any = Settings
    for part in parts:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part)
            if field is None:
                return None
            current = field.annotation
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        else:
            return None
    return current


def _is_text(annotation: Any) -> bool:
    if annotation in (str, Path):
        return True
    args = typing.get_args(annotation)
    is_union = (
        isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
    )
    return is_union and type(None) in args and all(a in (str, Path, type(None)) for a in args)


def _config_error(
    exc: ValidationError,
    source: str,
    origins: Mapping[tuple[str, ...], str],
    lines: Mapping[tuple[str, ...], int],
) -> ConfigError:
    problems: list[str] = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        key = ".".join(loc)
        where = _origin(loc, origins)
        if where is None and err["type"] == "missing" and loc[:-1] not in lines:
            # the mapping that lacks the key was made by an override below it
            below = [o for path, o in origins.items() if path[: len(loc) - 1] == loc[:-1]]
            where = below[-1] if below else None
        if where is None:
            line = lines.get(loc) or lines.get(loc[:-1])
            where = f"{source} line {line}" if line else source
        if err["type"] == "missing":
            problem = f"{key}: {err['msg']}"
        else:
            problem = f"{key}: {err['msg']} (got {err.get('input')!r})"
        if err["type"] == "extra_forbidden" and (allowed := _allowed_keys(loc[:-1])):
            problem += f"; allowed: {', '.join(allowed)}"
        problems.append(f"{where}: {problem}")
    return ConfigError("; ".join(problems), hint="fix the value or remove the key")


def _origin(loc: tuple[str, ...], origins: Mapping[tuple[str, ...], str]) -> str | None:
    """The variable or --set that set this key or a mapping above it, if one did."""
    for end in range(len(loc), 0, -1):
        if loc[:end] in origins:
            return origins[loc[:end]]
    # an override below this key, e.g. --set serving.port.x=1 making port a mapping
    below = [o for path, o in origins.items() if path[: len(loc)] == loc]
    return below[-1] if below else None


def _allowed_keys(parts: tuple[str, ...]) -> list[str]:
    model = _annotation(parts)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return sorted(k for k in model.model_fields if k != "root")
    return []
