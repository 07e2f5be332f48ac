"""``shipyard serve``: run the model server over the project's registry."""

from __future__ import annotations

from typing import Annotated

import typer

from shipyard.cli.state import state


def register(app: typer.Typer) -> None:
    """Mount ``shipyard serve`` on the root app."""
    app.command("serve")(serve_command)


def serve_command(
    ctx: typer.Context,
    endpoints: Annotated[
        list[str] | None,
        typer.Argument(
            help="ENDPOINT=REFERENCE, e.g. housing=housing@champion", show_default=False
        ),
    ] = None,
    host: Annotated[str | None, typer.Option(help="bind address [serving.host: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="port [serving.port: 8000]")] = None,
    source: Annotated[
        str | None,
        typer.Option(help="module:callable(settings) -> ModelSource, instead of the registry"),
    ] = None,
) -> None:
    """Serve models: Open Inference Protocol v2, MLflow /invocations, /metrics, until SIGTERM."""
    # imported here so that `shipyard --help` does not pay for the server's imports
    from shipyard.serving.process import load_source, serve
    from shipyard.serving.source import RegistrySource

    project = state(ctx).project()
    if source:
        model_source = load_source(source, project.settings)
    else:
        from shipyard.registry import Registry

        model_source = RegistrySource(Registry(project))
        if not endpoints and not project.settings.endpoints:
            endpoints = [f"{name}={ref}" for name, ref in model_source.champions().items()]
    serve(project.settings, model_source, endpoints or [], host=host, port=port)
