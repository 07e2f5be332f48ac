"""``shipyard test``: run a model version's behavioral suites and show what failed, with examples."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from shipyard.cli.output import console, print_json
from shipyard.cli.state import state

if TYPE_CHECKING:
    from shipyard.testing.behavioral import TestResult
    from shipyard.testing.runner import ModelTestReport

_SHOWN_EXAMPLES = 5


def test_command(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="the model version: NAME, NAME:VERSION or NAME@ALIAS")],
    suite: Annotated[
        list[str] | None, typer.Option("--suite", "-s", help="run only this suite (repeatable)")
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="rows to perturb (CSV or Parquet) for every suite")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    no_record: Annotated[
        bool, typer.Option("--no-record", help="do not record the results on the version")
    ] = False,
) -> None:
    """Run behavioral tests against a model version; exit 1 if any test fails."""
    # imported here so that `shipyard --help` does not pay for pandas and numpy
    from shipyard.testing.runner import test_model
    from shipyard.testing.suite import read_table

    report = test_model(
        state(ctx).project(),
        ref,
        suite_names=suite or (),
        data=read_table(data) if data is not None else None,
        record=not no_record,
    )
    if as_json:
        print_json(report.to_dict())
    else:
        render_report(report, console)
    if not report.passed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Mount ``shipyard test`` on the root app."""
    app.command("test")(test_command)


def render_report(report: ModelTestReport, console: Console) -> None:
    """A table of every test, then what each failing test checks and its worst examples."""
    table = Table(title=f"shipyard test {report.ref}")
    for column in ("suite", "test", "kind", "result", "failed/checked"):
        table.add_column(column, justify="right" if column.startswith("failed") else "left")
    failing: list[tuple[str, TestResult]] = []
    for suite in report.suites:
        for result in suite.results:
            table.add_row(
                suite.name,
                result.name,
                result.kind,
                _verdict(result),
                f"{result.n_failed}/{result.n_checked}",
            )
            if not result.passed:
                failing.append((suite.name, result))
    console.print(table)
    for suite_name, result in failing:
        console.print(f"\n[bold red]{suite_name} :: {result.name}[/] — {result.description}")
        if result.error:
            console.print(f"  error: {result.error}", markup=False)
        if result.failing_examples:
            console.print(_examples_table(result))
    total = sum(len(s.results) for s in report.suites)
    verdict = "[green]passed[/]" if report.passed else f"[red]{len(failing)} failed[/]"
    console.print(f"\n{total} tests, {verdict}")


def _verdict(result: TestResult) -> str:
    if result.passed:
        return "[green]PASS[/]"
    return "[red]ERROR[/]" if result.error else "[red]FAIL[/]"


def _examples_table(result: TestResult) -> Table:
    examples = result.failing_examples[:_SHOWN_EXAMPLES]
    keys = [k for k in examples[0] if k != "inputs"]
    table = Table(title=f"worst {len(examples)} of {result.n_failed} failing", title_justify="left")
    table.add_column("inputs", overflow="fold")
    for key in keys:
        table.add_column(key, overflow="fold")
    for example in examples:
        table.add_row(_format(example["inputs"]), *(_format(example.get(k)) for k in keys))
    return table


def _format(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_format(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "[" + ", ".join(_format(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
