"""What a run ran on: code version (git), Python, packages and host."""

from __future__ import annotations

import platform
import socket
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any


def git_state(path: Path) -> tuple[str | None, bool | None]:
    """The commit checked out at ``path`` and whether the work tree differs from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=path,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return commit.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


@lru_cache(maxsize=1)
def packages() -> dict[str, str]:
    """Installed distributions and their versions (read once per process)."""
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if name:
            found[name.lower()] = dist.version
    return dict(sorted(found.items()))


def capture(path: Path) -> tuple[str | None, bool | None, dict[str, Any]]:
    """Git commit, dirty flag, and the environment record of a run started at ``path``."""
    commit, dirty = git_state(path)
    env = {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "executable": sys.executable,
        "packages": packages(),
    }
    return commit, dirty, env
