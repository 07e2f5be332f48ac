"""Rendering shared by every command: JSON for machines, rich for people."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def print_json(value: Any) -> None:
    """Write ``value`` as JSON to stdout (dates as ISO strings, paths as strings)."""
    sys.stdout.write(json.dumps(value, indent=2, default=_default, sort_keys=False) + "\n")


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, set | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def short(value: Any, width: int = 40) -> str:
    """A value for a table cell, shortened."""
    if isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 1] + "…"


def status_style(status: str) -> str:
    return {
        "succeeded": "green",
        "cached": "cyan",
        "failed": "red",
        "running": "yellow",
        "skipped": "dim",
        "passed": "green",
    }.get(status, "white")
