"""``shipyard report``: evaluate a model version on a frozen dataset, write HTML or JSON."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from shipyard.cli.output import console, print_json
from shipyard.cli.state import state

if TYPE_CHECKING:
    from shipyard.evaluation.report import EvaluationReport


def report_command(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="the model version: NAME, NAME:VERSION or NAME@ALIAS")],
    data: Annotated[
        str | None,
        typer.Option("--data", help="dataset name or digest (default: gate.evaluation_dataset)"),
    ] = None,
    against: Annotated[
        str | None,
        typer.Option(
            "--against",
            help="compare with this version on the same rows: an alias of the same model "
            "(e.g. champion) or NAME:VERSION",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="where to write the report (.json for JSON, else HTML)"),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the JSON report (without per-row predictions)")
    ] = False,
    target: Annotated[
        str | None, typer.Option("--target", help="the label column (default: the version's)")
    ] = None,
    slices: Annotated[
        list[str] | None,
        typer.Option("--slice", help="break metrics down by this column (repeatable)"),
    ] = None,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=0, help="bootstrap resamples per interval")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="seed of the resampling")] = 0,
) -> None:
    """Evaluate a model version and write a self-contained HTML report (or JSON)."""
    # imported here so that `shipyard --help` does not pay for pandas and matplotlib
    from shipyard.evaluation.report import report_for_version

    report = report_for_version(
        state(ctx).project(),
        ref,
        data,
        against,
        target=target,
        slices=slices or (),
        n_bootstrap=bootstrap,
        seed=seed,
    )
    if out is None and not as_json:
        out = Path(f"{report.metadata.model_ref.replace(':', '-')}-report.html")
    written = report.write(out) if out is not None else None
    if as_json:
        print_json(report.to_dict(per_example=False))
        return
    render_summary(report, console)
    console.print(f"report written to [bold]{written}[/bold]")


def register(app: typer.Typer) -> None:
    """Mount ``shipyard report`` on the root app."""
    app.command("report")(report_command)


def render_summary(report: EvaluationReport, console: Console) -> None:
    """A table of metrics with intervals and, with a champion, the deltas and verdict."""
    ev, cmp = report.evaluation, report.comparison
    title = f"{report.metadata.model_ref} on {ev.dataset_digest[:12]} ({ev.n_rows:,} rows)"
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column(f"{ev.confidence:.0%} interval", justify="right")
    if cmp is not None:
        table.add_column(cmp.champion_ref or "champion", justify="right")
        table.add_column("delta", justify="right")
        table.add_column("judged")
    deltas = {d.name: d for d in cmp.deltas} if cmp is not None else {}
    for m in ev.metrics:
        row = [m.label, _num(m.value), _interval(m.low, m.high)]
        if cmp is not None:
            d = deltas.get(m.name)
            row += [_num(d.champion), f"{d.delta:+.4g}", d.judgement] if d else ["", "", ""]
        table.add_row(*row, style="bold" if m.name == ev.headline_metric else None)
    console.print(table)
    if cmp is not None:
        style = {"better": "green", "worse": "red"}.get(cmp.verdict, "yellow")
        console.print(f"verdict: [{style}]{cmp.verdict}[/{style}] ({cmp.verdict_detail})")


def _num(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.4g}"


def _interval(low: float | None, high: float | None) -> str:
    return "" if low is None or high is None else f"[{low:.4g}, {high:.4g}]"
