"""``shipyard models list|show`` and ``shipyard promote``: the registry from the command line."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from shipyard.cli.output import console, print_json, short
from shipyard.cli.state import state

if TYPE_CHECKING:
    from shipyard.registry import GateReport, ModelVersion, Registry
    from shipyard.store.registry import AliasEvent

models_app = typer.Typer(help="List and show registered models.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
RefArg = Annotated[str, typer.Argument(help="NAME, NAME:VERSION or NAME@ALIAS")]


def register(app: typer.Typer) -> None:
    """Mount ``shipyard models`` and ``shipyard promote`` on the root app."""
    app.add_typer(models_app, name="models")
    app.command("promote")(promote_command)


def _registry(ctx: typer.Context) -> Registry:
    # imported here so that `shipyard --help` does not pay for the registry's imports
    from shipyard.registry import Registry

    return Registry(state(ctx).project())


@models_app.command("list")
def list_models(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every registered model with its latest version and aliases."""
    models = _registry(ctx).models()
    if as_json:
        print_json([m.to_dict() for m in models])
        return
    if not models:
        console.print("no models registered yet")
        return
    table = Table(title=f"{len(models)} models", title_justify="left")
    for column in ("name", "versions", "latest", "aliases", "created"):
        table.add_column(column)
    for m in models:
        table.add_row(
            m.name,
            str(m.version_count),
            str(m.latest_version or ""),
            ", ".join(f"{a} → {v}" for a, v in m.aliases.items()),
            f"{m.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@models_app.command("show")
def show(ctx: typer.Context, ref: RefArg, as_json: JsonOpt = False) -> None:
    """A model (NAME: its versions, aliases and alias history) or one version (NAME:VERSION, NAME@ALIAS)."""
    from shipyard.registry import parse_ref

    registry = _registry(ctx)
    parsed = parse_ref(ref)
    if parsed.version is None and parsed.alias is None:
        _show_model(registry, parsed.name, as_json)
    else:
        _show_version(registry, registry.get(parsed), as_json)


def _show_model(registry: Registry, name: str, as_json: bool) -> None:
    model = registry.model(name)
    versions = registry.versions(name)
    history = registry.history(name)
    if as_json:
        print_json(
            {
                **model.to_dict(),
                "versions": [v.to_dict() for v in versions],
                "history": [e.to_dict() for e in history],
            }
        )
        return
    console.print(f"[bold]{name}[/]  {len(versions)} versions")
    table = Table(title="versions", title_justify="left")
    for column in ("version", "created", "run", "flavor", "size", "aliases", "tags", "tests"):
        table.add_column(column, overflow="fold")
    for v in versions:
        table.add_row(
            str(v.version),
            f"{v.created_at:%Y-%m-%d %H:%M}",
            v.run_id or "",
            v.flavor,
            _size(v.size_bytes),
            ", ".join(v.aliases),
            escape(short(", ".join(f"{k}={t}" for k, t in v.tags.items()), 40)),
            _tests(v),
        )
    console.print(table)
    _print_history(history)


def _show_version(registry: Registry, mv: ModelVersion, as_json: bool) -> None:
    history = [e for e in registry.history(mv.name) if mv.version in (e.from_version, e.to_version)]
    if as_json:
        print_json({**mv.to_dict(), "history": [e.to_dict() for e in history]})
        return
    console.print(f"[bold]{mv.ref}[/]  {', '.join(mv.aliases) or 'no aliases'}")
    rows = {
        "created": f"{mv.created_at:%Y-%m-%d %H:%M:%S %Z}",
        "run": mv.run_id or "-",
        "flavor": mv.flavor,
        "size": _size(mv.size_bytes),
        "bundle sha256": mv.bundle_digest,
        "target": mv.details.get("target", "-"),
        "evaluation dataset": str(mv.details.get("evaluation_dataset", "-"))[:12],
        "tags": ", ".join(f"{k}={t}" for k, t in mv.tags.items()) or "-",
        "tests": _tests(mv) or "-",
    }
    for key, value in rows.items():
        console.print(f"  {key:<20} {escape(str(value))}")
    _print_history(history)


def _print_history(history: list[AliasEvent]) -> None:
    if not history:
        console.print("no alias moves yet")
        return
    table = Table(title="alias history", title_justify="left")
    for column in ("when", "alias", "move", "who", "forced", "reason"):
        table.add_column(column, overflow="fold")
    for e in history:
        move = f"{e.from_version or '-'} → {e.to_version or 'removed'}"
        table.add_row(
            f"{e.at:%Y-%m-%d %H:%M:%S}",
            e.alias,
            move,
            escape(e.actor),
            "[yellow]forced[/]" if e.forced else "",
            escape(e.reason or ""),
        )
    console.print(table)


def _tests(mv: ModelVersion) -> str:
    recorded = mv.details.get("tests") or {}
    return ", ".join(
        f"{name} {'passed' if entry.get('passed') else 'failed'}"
        for name, entry in recorded.items()
        if isinstance(entry, dict)
    )


def _size(size_bytes: int) -> str:
    return f"{size_bytes / 1e6:.2f} MB" if size_bytes >= 100_000 else f"{size_bytes / 1e3:.1f} kB"


def promote_command(
    ctx: typer.Context,
    ref: RefArg,
    to: Annotated[str, typer.Option("--to", help="the alias to move")] = "champion",
    force: Annotated[
        bool, typer.Option("--force", help="move it even if the gate fails (needs --reason)")
    ] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="why; recorded")] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data", help="evaluation dataset (name or digest); default gate.evaluation_dataset"
        ),
    ] = None,
    actor: Annotated[
        str | None, typer.Option("--actor", help="who promotes (default: the current user)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Move an alias (default champion) to a version through the promotion gate; exit 1 if refused."""
    from shipyard.registry import PromotionRefused, promote

    registry = _registry(ctx)
    try:
        report = promote(
            registry,
            ref,
            to,
            actor=actor or _current_user(),
            force=force,
            reason=reason,
            evaluation_dataset=data,
        )
    except PromotionRefused as refused:
        if refused.report is None:
            raise
        _print_report(refused.report, as_json)
        raise typer.Exit(1) from None
    _print_report(report, as_json)


def _current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return "unknown"


def _print_report(report: GateReport, as_json: bool) -> None:
    if as_json:
        print_json(report.to_dict())
        return
    color = {"promoted": "green", "forced": "yellow", "unchanged": "cyan"}.get(
        report.outcome, "red"
    )
    verb = {
        "promoted": "promoted to",
        "forced": "forced to",
        "unchanged": "is already",
        "refused": "was not promoted to",
    }.get(report.outcome, "judged for")
    console.print(f"{report.candidate} [{color}]{verb}[/] '{report.alias}'")
    if report.criteria:
        table = Table(title="promotion gate", title_justify="left")
        for column in ("criterion", "result", "measured", "threshold", "detail"):
            table.add_column(column, overflow="fold")
        for c in report.criteria:
            table.add_row(
                c.name,
                "[green]pass[/]" if c.passed else "[red]fail[/]",
                _value(c.measured),
                _value(c.threshold),
                escape(c.detail),
            )
        console.print(table)
    if report.outcome == "refused":
        console.print("override with --force --reason TEXT (the override is recorded)")


def _value(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@models_app.command("import-mlflow")
def import_mlflow(
    ctx: typer.Context,
    directory: Annotated[str, typer.Argument(help="an MLflow model directory (holds MLmodel)")],
    name: Annotated[str, typer.Option("--name", help="register it under this model name")],
    trust_pickle: Annotated[
        bool,
        typer.Option(
            help="allow a pickled scikit-learn model: unpickling runs code, only for files you made"
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Bundle an MLflow model (sklearn or onnx flavor) and register it as a new version."""
    import tempfile
    from pathlib import Path

    from shipyard.bundle import import_mlflow_model

    registry = _registry(ctx)
    with tempfile.TemporaryDirectory(prefix="shipyard-mlflow-") as tmp:
        bundle = import_mlflow_model(
            directory, Path(tmp) / "bundle", name=name, trust_pickle=trust_pickle
        )
        version = registry.register(name, bundle.path, tags={"imported_from": "mlflow"})
    if as_json:
        print_json({"model": version.name, "version": version.version, "flavor": version.flavor})
        return
    console.print(
        f"imported {escape(directory)} as [bold]{version.name}:{version.version}[/] ({version.flavor})"
    )
