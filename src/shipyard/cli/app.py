"""The root ``shipyard`` command and its entry point."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from shipyard.cli import datasets as datasets_cli
from shipyard.cli import models as models_cli
from shipyard.cli import monitor as monitor_cli
from shipyard.cli import report as report_cli
from shipyard.cli import rollout as rollout_cli
from shipyard.cli import runs as runs_cli
from shipyard.cli import serve as serve_cli
from shipyard.cli import testing as testing_cli
from shipyard.cli import watch as watch_cli
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


# Each capability's commands live beside it; each module imports only typer and rich at
# the top, so mounting them all keeps `shipyard --help` fast.
for _commands in (
    datasets_cli,
    models_cli,
    testing_cli,
    report_cli,
    serve_cli,
    rollout_cli,
    monitor_cli,
    watch_cli,
):
    _commands.register(app)


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
