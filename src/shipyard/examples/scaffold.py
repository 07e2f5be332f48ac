"""``shipyard init DIR --template NAME``: copy a shipped example project into DIR."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from shipyard.errors import ConfigError

TEMPLATES = ("housing",)


def scaffold(template: str, directory: Path, *, force: bool = False) -> list[Path]:
    """Copy ``template``'s files into ``directory``; returns the files written.

    Raises:
        ConfigError: for an unknown template, or a non-empty directory without ``force``.
    """
    if template not in TEMPLATES:
        raise ConfigError(
            f"unknown template {template!r}", hint=f"templates: {', '.join(TEMPLATES)}"
        )
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()) and not force:
        raise ConfigError(f"{directory} is not empty", hint="choose a new folder or pass --force")
    directory.mkdir(parents=True, exist_ok=True)
    source = resources.files("shipyard.examples") / template / "template"
    written = []
    for item in source.iterdir():
        if item.name.startswith((".", "__")):
            continue
        target = directory / item.name
        with resources.as_file(item) as path:
            shutil.copyfile(path, target)
        written.append(target)
    return sorted(written)
