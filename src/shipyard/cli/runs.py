"""``shipyard run``, ``init``, ``quickstart`` and ``runs list|show|compare``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli.output import console, print_json, short, status_style
from shipyard.cli.state import state

if TYPE_CHECKING:
    from shipyard.pipeline.events import StepEvent

runs_app = typer.Typer(help="List, show and compare runs.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


def run(
    ctx: typer.Context,
    target: Annotated[
        str, typer.Argument(help="a pipeline name from shipyard.yaml, or path/file.py:function")
    ],
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", help="key.path=value (step.param=value sets a step parameter)"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a pipeline, reusing every step whose fingerprint is cached."""
    from shipyard.project import Project

    st = state(ctx)
    project = Project.open(st.root, overrides=(*st.overrides, *(overrides or ())))
    pipeline, params = _resolve_pipeline(project, target)
    with StepProgress(enabled=not as_json) as progress:
        result = pipeline.run(params, project=project, progress=progress, raise_on_failure=False)
    record = result.record()
    if as_json:
        print_json(record.to_dict())
    else:
        _print_run_summary(result)
    if result.status != "succeeded":
        raise typer.Exit(1)


def _resolve_pipeline(project: Any, target: str) -> tuple[Any, dict[str, Any]]:
    from shipyard.errors import PipelineError
    from shipyard.pipeline import load_pipeline

    if ":" in target:
        return load_pipeline(target, project.root), {}
    spec = project.settings.pipelines.get(target)
    if spec is None:
        known = ", ".join(project.settings.pipelines) or "none"
        raise PipelineError(
            f"no pipeline named {target!r} in {project.root / 'shipyard.yaml'}",
            hint=f"pipelines declared there: {known}; or give path/file.py:function",
        )
    pipe = load_pipeline(spec.entry, project.root)
    pipe.name = target
    return pipe, {}


class StepProgress:
    """A live per-step display while a pipeline runs."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and console.is_terminal
        self.plain = enabled and not console.is_terminal
        self.rows: dict[str, tuple[str, str]] = {}
        self._live: Any = None

    def __enter__(self) -> StepProgress:
        if self.enabled:
            from rich.live import Live

            self._live = Live(self._table(), console=console, refresh_per_second=8, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(None, None, None)

    def __call__(self, event: StepEvent) -> None:
        seconds = f"{event.seconds:.2f}s" if event.seconds is not None else ""
        self.rows[event.node] = (
            event.status,
            seconds if not event.error else f"{seconds} {event.error}",
        )
        if self._live is not None:
            self._live.update(self._table())
        elif self.plain and event.status != "started":
            console.print(f"  {event.node:<18} {event.status:<10} {self.rows[event.node][1]}")

    def _table(self) -> Any:
        from rich.spinner import Spinner
        from rich.table import Table

        table = Table(show_header=True, header_style="bold", box=None)
        table.add_column("step")
        table.add_column("status")
        table.add_column("time")
        for node, (status, note) in self.rows.items():
            cell: Any = (
                Spinner("dots", text="running")
                if status == "started"
                else f"[{status_style(status)}]{status}[/]"
            )
            table.add_row(node, cell, note)
        return table


def _print_run_summary(result: Any) -> None:
    color = status_style(result.status)
    cached = len(result.cached)
    console.print(
        f"run [bold]{result.id}[/] of [bold]{result.pipeline}[/]: [{color}]{result.status}[/] "
        f"({cached}/{len(result.steps)} steps cached)"
    )
    if result.model_version is not None:
        console.print(
            f"registered model version [bold]{result.model_version.name}:{result.model_version.version}[/]"
        )
    if result.error:
        last = [line for line in result.error.strip().splitlines() if line.strip()][-1]
        console.print(f"[red]{last}[/]  (traceback: shipyard runs show {result.id})")


@runs_app.command("list")
def list_runs(
    ctx: typer.Context,
    pipeline: Annotated[str | None, typer.Option(help="only runs of this pipeline")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The newest runs, with their parameters and last metric values."""
    from rich.table import Table

    from shipyard.store.runs import RunStore

    records = RunStore(state(ctx).project().db).list(pipeline=pipeline, limit=limit)
    if as_json:
        print_json([_summary(r) for r in records])
        return
    table = Table(title=f"{len(records)} runs", title_justify="left")
    for col in ("id", "pipeline", "status", "started", "secs", "commit", "params", "metrics"):
        table.add_column(col, overflow="fold")
    for r in records:
        table.add_row(
            r.id,
            r.pipeline,
            f"[{status_style(r.status)}]{r.status}[/]",
            r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{r.seconds:.1f}" if r.seconds is not None else "",
            (r.git_commit or "")[:8] + ("*" if r.git_dirty else ""),
            short(", ".join(f"{k}={short(v, 12)}" for k, v in r.params.items()), 40),
            short(", ".join(f"{k}={v:.4g}" for k, v in r.metrics.items()), 40),
        )
    console.print(table)


def _summary(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "pipeline": r.pipeline,
        "status": r.status,
        "started_at": r.started_at.isoformat(),
        "seconds": r.seconds,
        "git_commit": r.git_commit,
        "git_dirty": r.git_dirty,
        "params": r.params,
        "metrics": r.metrics,
        "datasets": list(r.datasets),
        "cached_steps": r.details.get("cached", []),
        "model_version": r.details.get("model_version"),
    }


@runs_app.command("show")
def show_run(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="a run id or a unique prefix of one")],
    as_json: JsonOpt = False,
) -> None:
    """One run: environment, steps, parameters, metrics, artifacts, error."""
    from rich.table import Table

    from shipyard.store.runs import RunStore

    record = RunStore(state(ctx).project().db).get(run_id)
    if as_json:
        print_json(record.to_dict())
        return
    env = record.environment
    console.print(
        f"[bold]run {record.id}[/]  pipeline {record.pipeline}  [{status_style(record.status)}]{record.status}[/]"
    )
    console.print(
        f"started {record.started_at:%Y-%m-%d %H:%M:%S}  took {record.seconds or 0:.2f}s  "
        f"commit {record.git_commit or '-'}{' (dirty)' if record.git_dirty else ''}"
    )
    console.print(
        f"python {env.get('python', '?')} on {env.get('host', '?')} ({env.get('platform', '?')})"
    )
    steps = Table(title="steps", title_justify="left")
    for col in ("step", "status", "secs", "fingerprint", "output"):
        steps.add_column(col)
    for s in record.steps:
        steps.add_row(
            s.step,
            f"[{status_style(s.status)}]{s.status}[/]",
            f"{s.seconds:.2f}" if s.seconds is not None else "",
            s.fingerprint[:12],
            (s.output_digest or "")[:12],
        )
    console.print(steps)
    _kv_table("params", record.params)
    _kv_table("metrics", record.metrics)
    if record.datasets:
        console.print("datasets: " + ", ".join(d[:12] for d in record.datasets))
    if record.artifacts:
        arts = Table(title="artifacts", title_justify="left")
        for col in ("name", "step", "size", "sha256"):
            arts.add_column(col)
        for a in record.artifacts:
            arts.add_row(a.name, a.step or "", str(a.size), a.digest[:12])
        console.print(arts)
    if record.error:
        console.print("[red]error:[/]")
        console.print(record.error, markup=False)


def _kv_table(title: str, values: dict[str, Any]) -> None:
    from rich.table import Table

    if not values:
        return
    table = Table(title=title, title_justify="left")
    table.add_column("key")
    table.add_column("value")
    for k, v in values.items():
        table.add_row(k, short(v, 60))
    console.print(table)


@runs_app.command("compare")
def compare(
    ctx: typer.Context,
    run_a: Annotated[str, typer.Argument(help="the first run (id or prefix)")],
    run_b: Annotated[str, typer.Argument(help="the second run (id or prefix)")],
    only_changed: Annotated[bool, typer.Option("--changed", help="only rows that differ")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Two runs side by side; differences marked."""
    from rich.table import Table

    from shipyard.store.runs import RunStore
    from shipyard.tracking.compare import compare_runs

    store = RunStore(state(ctx).project().db)
    comparison = compare_runs(store.get(run_a), store.get(run_b))
    if as_json:
        print_json(comparison.to_dict())
        return
    table = Table(
        title=f"{comparison.a.id} vs {comparison.b.id}: {len(comparison.changed)} differences",
        title_justify="left",
    )
    for col in ("", "section", "key", comparison.a.id, comparison.b.id, "delta"):
        table.add_column(col)
    for row in comparison.rows:
        if only_changed and not row.changed:
            continue
        mark = "[yellow]≠[/]" if row.changed else ""
        style = "yellow" if row.changed else None
        table.add_row(
            mark,
            row.section,
            row.key,
            short(row.a),
            short(row.b),
            f"{row.delta:+.4g}" if row.delta is not None and row.changed else "",
            style=style,
        )
    console.print(table)


def init(
    directory: Annotated[Path, typer.Argument(help="where to create the project")],
    template: Annotated[str, typer.Option(help="the example to start from")] = "housing",
    force: Annotated[bool, typer.Option(help="write into a directory that is not empty")] = False,
) -> None:
    """Create a project from a shipped example."""
    from shipyard.examples.scaffold import scaffold

    written = scaffold(template, directory, force=force)
    console.print(
        f"created {len(written)} files in {directory}: " + ", ".join(p.name for p in written)
    )
    console.print(f"next: cd {directory} && shipyard run housing")


def quickstart(
    directory: Annotated[
        Path, typer.Argument(help="a fresh folder for the example project")
    ] = Path("shipyard-quickstart"),
) -> None:
    """Scaffold the housing example and run the whole loop on it."""
    from shipyard.examples.quickstart import run_quickstart

    run_quickstart(directory, console)
