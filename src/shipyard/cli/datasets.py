"""``shipyard datasets list|show``: the project's datasets and their profiles."""

from __future__ import annotations

from typing import Annotated

import typer

from shipyard.cli.output import console, print_json, short
from shipyard.cli.state import state

app = typer.Typer(help="List datasets and show their profiles.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    """Mount ``shipyard datasets`` on the root app."""
    root.add_typer(app, name="datasets")


JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


@app.command("list")
def list_datasets(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(help="only the versions of this name")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 100,
    as_json: JsonOpt = False,
) -> None:
    """The datasets, newest first."""
    from rich.table import Table

    from shipyard.store.datasets import DatasetStore

    records = DatasetStore(state(ctx).project().db).list(name=name, limit=limit)
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    table = Table(title=f"{len(records)} datasets", title_justify="left")
    for col in ("digest", "name", "rows", "columns", "created"):
        table.add_column(col, overflow="fold")
    for r in records:
        table.add_row(
            r.digest[:12],
            r.name,
            f"{r.rows:,}",
            short(", ".join(r.columns), 50),
            f"{r.created_at:%Y-%m-%d %H:%M:%S}",
        )
    console.print(table)


@app.command("show")
def show_dataset(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="a name (its newest version), a digest or a prefix")],
    samples: Annotated[bool, typer.Option(help="with --json, include the raw samples")] = False,
    as_json: JsonOpt = False,
) -> None:
    """One dataset: digest, shape and the profile of each column."""
    from rich import box
    from rich.table import Table

    from shipyard.data.dataset import Dataset

    ds = Dataset.load(ref, state(ctx).project())
    if as_json:
        print_json(ds.to_dict(sample=samples))
        return
    console.print(f"[bold]dataset {ds.name}[/]  {ds.digest}")
    created = f"{ds.created_at:%Y-%m-%d %H:%M:%S}" if ds.created_at else "-"
    console.print(f"{ds.rows:,} rows x {len(ds.columns)} columns, snapshot {created}")
    table = Table(title="profile", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("column", "dtype", "nulls", "mean", "std", "min", "p50", "max", "top"):
        left = col in ("column", "dtype", "top")
        table.add_column(col, justify="left" if left else "right", no_wrap=col != "top")
    for c in ds.profile:
        table.add_row(
            c.name,
            c.dtype,
            f"{c.nulls:,}",
            *(_num(v) for v in (c.mean, c.std, c.minimum, c.quantiles.get("p50"), c.maximum)),
            _top(c.categories, c.counts, c.count),
        )
    console.print(table)


def _num(value: float | str | None) -> str:
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else short(value, 20)


def _top(categories: tuple[str, ...], counts: tuple[int, ...], total: int) -> str:
    if not categories or not total:
        return ""
    shown = ", ".join(f"{k} {n / total:.0%}" for k, n in zip(categories[:3], counts, strict=False))
    return shown + (", …" if len(categories) > 3 or counts[-1] else "")
