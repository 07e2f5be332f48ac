"""``shipyard watch``: the continuous-training controller, as a long-running process or one pass for cron."""

from __future__ import annotations

import signal
import threading
from typing import Annotated, Any

import typer

from shipyard.cli.output import console, err_console, print_json, short
from shipyard.cli.state import state


def register(app: typer.Typer) -> None:
    """Mount ``watch`` on the root app."""
    app.command("watch")(watch_command)


def watch_command(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="one pass (check triggers, advance jobs), then exit")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="seconds between passes")
    ] = 30.0,
    model: Annotated[
        list[str] | None, typer.Option("--model", help="watch only this model (repeatable)")
    ] = None,
    retrain: Annotated[
        str | None, typer.Option("--retrain", help="start a retraining of MODEL now, then watch")
    ] = None,
    jobs: Annotated[
        bool, typer.Option("--jobs", help="list the training jobs and their stages, then exit")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Retrain watched models when monitoring alerts (or a schedule) say so.

    For each model under continuous: in shipyard.yaml: build a training set from the
    reference dataset and recent labelled events, rerun the pipeline, test it, gate it
    against the champion on a frozen recent evaluation set, canary it on the endpoint
    and make it champion when the canary succeeds. Every stage is recorded; a stopped
    or crashed watch resumes where it stopped. SIGTERM or Ctrl-C stop it after the
    stage in progress.
    """
    project = state(ctx).project()
    if jobs:
        _list_jobs(project, model, as_json)
        return
    from shipyard.continuous import ContinuousController

    controller = ContinuousController(
        project, on_stage=None if as_json and once else _printer(as_json)
    )
    controller.check()
    chosen = model or None
    for name in chosen or []:
        controller.spec(name)  # an unwatched name is refused before anything starts
    if retrain:
        controller.trigger(retrain, "requested with shipyard watch --retrain", actor="cli")
    if once:
        results = controller.run_once(chosen)
        if as_json:
            print_json([r.to_dict() for r in results])
        else:
            for r in results:
                if not r.events:
                    console.print(f"[dim]{r.model}: {r.note}[/]")
        return
    _loop(controller, interval, chosen, as_json)


def _loop(controller: Any, interval: float, models: list[str] | None, as_json: bool) -> None:
    stopping = threading.Event()

    def _handle(signum: int, _frame: Any) -> None:
        if stopping.is_set():  # a second signal: stop now
            raise KeyboardInterrupt
        stopping.set()
        controller.stop()
        if not as_json:
            err_console.print("[yellow]stopping after the stage in progress...[/]")

    notes: dict[str, str] = {}

    def show(results: list[Any]) -> None:
        for r in results:
            if not as_json and not r.events and notes.get(r.model) != r.note:
                console.print(f"[dim]{r.model}: {r.note}[/]")  # only when it changes
            notes[r.model] = r.note

    previous = {s: signal.signal(s, _handle) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if not as_json:
            console.print(
                f"watching {', '.join(models or controller.specs) or 'nothing'} "
                f"every {interval:g}s (Ctrl-C to stop)"
            )
        controller.run(models, interval_s=interval, on_pass=show)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _printer(as_json: bool) -> Any:
    import json
    import sys

    def show(event: Any) -> None:
        if as_json:
            sys.stdout.write(json.dumps(event.to_dict()) + "\n")
            sys.stdout.flush()
            return
        style = {"promoted": "green", "rejected": "red", "failed": "red", "rolled_back": "red"}
        color = style.get(event.stage, "yellow" if event.waiting else "cyan")
        took = f" [dim]({event.seconds:.1f}s)[/]" if event.previous is not None else ""
        label = f"waiting at {event.stage}" if event.waiting else event.stage
        console.print(
            f"[dim]{event.at:%H:%M:%S}[/] {event.model} job {event.job_id[:8]} "
            f"[{color}]{label}[/]{took}: {event.summary}",
            soft_wrap=True,
        )

    return show


def _list_jobs(project: Any, models: list[str] | None, as_json: bool) -> None:
    from rich.table import Table

    from shipyard.store.training_jobs import TrainingJobStore

    store = TrainingJobStore(project.db)
    found = []
    names: list[str | None] = list(models) if models else [None]
    for name in names:
        found.extend(store.list(name, limit=50))
    found.sort(key=lambda j: j.created_at, reverse=True)
    if as_json:
        print_json([j.to_dict() for j in found])
        return
    table = Table(title="Training jobs", title_justify="left")
    for column in ("job", "model", "stage", "trigger", "candidate", "started", "updated", "note"):
        table.add_column(column)
    for job in found:
        note = job.details.get("reason") or job.details.get("waiting") or ""
        table.add_row(
            job.id[:8], job.model, job.stage, str(job.trigger.get("kind", "")),
            str(job.details.get("candidate") or ""), f"{job.created_at:%Y-%m-%d %H:%M:%S}",
            f"{job.updated_at:%H:%M:%S}", short(note, 60),
        )  # fmt: skip
    console.print(table)
