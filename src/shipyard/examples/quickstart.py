"""``shipyard quickstart``: the whole loop on the housing example, stage by stage.

Each stage calls the same public API a user would, prints what it did, and is timed;
the summary at the end says what happened and where to look.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from shipyard.errors import ConfigError
from shipyard.examples.scaffold import scaffold


@dataclass
class Stage:
    name: str
    seconds: float
    outcome: str


@dataclass
class Quickstart:
    """The state the stages share."""

    root: Path
    console: Console
    project: Any = None
    stages: list[Stage] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    look: list[tuple[str, str]] = field(default_factory=list)

    def stage(self, name: str, fn: Callable[[Quickstart], str]) -> None:
        self.console.rule(f"[bold]{name}")
        started = time.perf_counter()
        outcome = fn(self)
        seconds = time.perf_counter() - started
        self.stages.append(Stage(name, seconds, outcome))
        self.console.print(f"[green]✓[/] {outcome} [dim]({seconds:.1f}s)[/]")


def run_quickstart(directory: Path, console: Console) -> Quickstart:
    """Scaffold the housing example into ``directory`` (a new or empty folder) and run the loop."""
    directory = Path(directory).resolve()
    if directory.exists() and any(directory.iterdir()):
        raise ConfigError(
            f"{directory} is not empty",
            hint="quickstart needs a fresh folder; remove it or name another",
        )
    qs = Quickstart(directory, console)
    for name, fn in STAGES:
        qs.stage(name, fn)
    _summary(qs)
    return qs


def _scaffold(qs: Quickstart) -> str:
    from shipyard.project import Project

    written = scaffold("housing", qs.root)
    qs.project = Project.open(qs.root)
    qs.look.append(("project", str(qs.root)))
    return f"created the housing project: {', '.join(p.name for p in written)}"


def _pipeline(qs: Quickstart) -> Any:
    from shipyard.pipeline import load_pipeline

    spec = qs.project.settings.pipelines["housing"]
    pipe = load_pipeline(spec.entry, qs.root)
    pipe.name = "housing"
    return pipe


def _progress(qs: Quickstart) -> Any:
    from shipyard.cli.runs import StepProgress

    return StepProgress()


def _first_run(qs: Quickstart) -> str:
    with _progress(qs) as progress:
        run = _pipeline(qs).run(project=qs.project, progress=progress)
    qs.notes["first_run"] = run
    metrics = run.record().metrics
    version = (
        f", registered {run.model_version.name}:{run.model_version.version}"
        if run.model_version
        else ""
    )
    return f"run {run.id}: {len(run.steps)} steps, rmse {metrics['rmse']:,.0f}, r2 {metrics['r2']:.3f}{version}"


def _cached_run(qs: Quickstart) -> str:
    started = time.perf_counter()
    with _progress(qs) as progress:
        run = _pipeline(qs).run(project=qs.project, progress=progress)
    seconds = time.perf_counter() - started
    if len(run.cached) != len(run.steps):
        raise RuntimeError(
            f"the second run recomputed {set(s.name for s in run.steps) - set(run.cached)}"
        )
    qs.notes["cached_run"] = run
    return f"run {run.id}: all {len(run.cached)} steps were cache hits, {seconds:.2f}s"


STAGES: list[tuple[str, Callable[[Quickstart], str]]] = [
    ("Scaffold the housing example", _scaffold),
    ("Run the pipeline", _first_run),
    ("Run it again: every step cached", _cached_run),
]


def _summary(qs: Quickstart) -> None:
    from rich.table import Table

    table = Table(title="Quickstart: what happened", title_justify="left")
    table.add_column("stage")
    table.add_column("outcome")
    table.add_column("time", justify="right")
    for stage in qs.stages:
        table.add_row(stage.name, stage.outcome, f"{stage.seconds:.1f}s")
    qs.console.print(table)
    qs.console.print("[bold]Where to look[/]")
    for what, where in qs.look:
        qs.console.print(f"  {what:<12} {where}")
    first = qs.notes.get("first_run")
    cached = qs.notes.get("cached_run")
    qs.console.print("[bold]Try[/]")
    qs.console.print(f"  cd {qs.root}")
    qs.console.print("  shipyard runs list")
    if first and cached:
        qs.console.print(f"  shipyard runs compare {first.id} {cached.id}")
