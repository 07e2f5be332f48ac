"""The root ``shipyard`` command and its entry point."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from shipyard.cli import runs as runs_cli
from shipyard.cli.state import State

app = typer.Typer(
    name="shipyard",
    help="Shipyard: reproducible pipelines, model tests, an evidence-gated registry, "
    "fast serving, progressive rollout and monitoring.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


@app.callback()
def root(
    ctx: typer.Context,
    project: Annotated[Path, typer.Option("--project", "-C", help="the project directory")] = Path(
        "."
    ),
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="override a setting: key.path=value")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False,
) -> None:
    ctx.obj = State(project.resolve(), tuple(overrides or ()), debug)


app.command("run")(runs_cli.run)
app.command("init")(runs_cli.init)
app.command("quickstart")(runs_cli.quickstart)
app.add_typer(runs_cli.runs_app, name="runs")


def _mount_optional() -> None:
    """Commands of capabilities that live in their own modules."""
    import importlib

    for module, attach in (
        ("shipyard.cli.datasets", "datasets"),
        ("shipyard.cli.models", "models"),
        ("shipyard.cli.testing", None),
        ("shipyard.cli.report", None),
        ("shipyard.cli.serve", None),
        ("shipyard.cli.rollout", None),
        ("shipyard.cli.monitor", None),
        ("shipyard.cli.watch", None),
    ):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            raise
        mod.register(app) if hasattr(mod, "register") else app.add_typer(mod.app, name=attach)


_mount_optional()


def main() -> None:
    """Entry point: run the app, turning Shipyard errors into one clear line."""
    from shipyard.errors import ShipyardError

    debug = "--debug" in sys.argv
    try:
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except ShipyardError as exc:
        if debug:
            raise
        from shipyard.cli.output import err_console

        err_console.print(f"[red]error:[/red] {exc}", soft_wrap=True, markup=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click usage errors and anything unexpected
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if debug:
            raise
        from shipyard.cli.output import err_console

        err_console.print(
            f"[red]error:[/red] {type(exc).__name__}: {exc} (run with --debug for the traceback)",
            markup=True,
        )
        sys.exit(1)
