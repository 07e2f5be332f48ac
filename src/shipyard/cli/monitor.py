"""``shipyard monitor ENDPOINT``: drift, performance and trends of one endpoint's live traffic."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from shipyard.cli.output import console, print_json
from shipyard.cli.state import state


def register(app: typer.Typer) -> None:
    app.command("monitor")(monitor)


def monitor(
    ctx: typer.Context,
    endpoint: Annotated[str, typer.Argument(help="the endpoint whose events to check")],
    window: Annotated[
        str | None,
        typer.Option(
            help="rows (1000) or time (30s, 15m, 2h, 1d); default monitoring.drift_window"
        ),
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="write a self-contained HTML report here")
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(help="compare with this dataset (name or digest) or profile JSON file"),
    ] = None,
    outcome: Annotated[str, typer.Option(help="the outcome kind scored for performance")] = "label",
    fail_on_drift: Annotated[
        bool, typer.Option("--fail-on-drift", help="exit with status 1 when drift is found")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Compare the endpoint's newest window with its reference; show verdicts and trends."""
    from shipyard.monitoring.report import build_report, parse_window

    project = state(ctx).project()
    spec = parse_window(window, project.settings.monitoring.drift_window)
    result = build_report(project, endpoint, window=spec, reference=reference, outcome=outcome)
    if report is not None:
        from shipyard.monitoring.render import write_html

        write_html(result, report)
    if as_json:
        print_json(result.to_dict() | ({"report_file": str(report)} if report else {}))
    else:
        _show(result, report)
    if fail_on_drift and result.drifted:
        raise typer.Exit(1)


def _show(result: Any, report: Path | None) -> None:
    from rich import box
    from rich.table import Table

    drift = result.drift
    verdict = "[red]drift detected[/]" if result.drifted else "[green]no drift[/]"
    w = drift.window
    console.print(
        f"[bold]{result.endpoint}[/] {drift.model}: {verdict}  "
        f"({w.rows} rows in {w.events} events, {result.window.describe()}; reference: {result.reference})"
    )
    table = Table(box=box.SIMPLE_HEAD, title_justify="left")
    for col in ("feature", "role", "kind", "rows", "statistics", "verdict"):
        table.add_column(col, justify="right" if col == "rows" else "left", overflow="fold")
    for f in (*drift.features, *drift.outputs):
        stats = "; ".join(s.describe() for s in f.statistics) or (f.note or "")
        mark = "[red]drift[/]" if f.drifted else "[green]ok[/]" if f.statistics else "[dim]-[/]"
        table.add_row(f.feature, f.role, f.kind, f"{f.n_current:,}", stats, mark)
    console.print(table)
    mv = drift.multivariate
    if mv is not None:
        state_text = "[red]drift[/]" if mv.drifted else "[green]ok[/]"
        console.print(
            f"multivariate: domain classifier AUC {mv.auc:.3f} (threshold {mv.threshold:.3f}) {state_text}"
        )
    perf = result.performance
    if perf is not None:
        state_text = "[red]degraded[/]" if perf.degraded else "[green]stable[/]"
        console.print(
            f"performance ({perf.task}, {perf.kind}): reference {_fmt(perf.reference)} -> "
            f"current {_fmt(perf.current)}, p={perf.pvalue:.3g} {state_text}"
        )
    if result.latency:
        last = result.latency[-1]
        console.print(
            f"latency (last bucket): p50 {last['p50_ms']:.2f} ms, p99 {last['p99_ms']:.2f} ms"
        )
    for note in (*result.notes, *drift.notes):
        console.print(f"[dim]note: {note}[/]")
    if report is not None:
        console.print(f"report written to {report}")


def _fmt(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k != "n")
