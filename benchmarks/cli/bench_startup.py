"""CLI start-up: how long ``shipyard --help`` takes, in a new process each time.

Run it with ``make -C benchmarks cli``. Uses ``hyperfine`` when it is installed
(``apt-get install hyperfine``), else times ``--runs`` subprocesses itself. Also times
``python -c pass`` and ``python -c "import shipyard"`` as the floor under it, and
``shipyard runs list`` on an empty project (the first command that opens the store).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def with_hyperfine(commands: dict[str, list[str]], runs: int, cwd: Path) -> dict[str, float]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = ["hyperfine", "--warmup", "3", "--runs", str(runs), "-N", "--export-json", out.name]
        for name, argv in commands.items():
            cmd += ["--command-name", name, " ".join(_quote(a) for a in argv)]
        subprocess.run(cmd, check=True, cwd=cwd)
        results = json.loads(Path(out.name).read_text())["results"]
    return {r["command"]: r["median"] for r in results}


def with_python(commands: dict[str, list[str]], runs: int, cwd: Path) -> dict[str, float]:
    medians = {}
    for name, argv in commands.items():
        for _ in range(3):  # warm the page cache
            subprocess.run(argv, capture_output=True, check=True, cwd=cwd)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(argv, capture_output=True, check=True, cwd=cwd)
            times.append(time.perf_counter() - t0)
        medians[name] = statistics.median(times)
        print(
            f"  {name:<34} median {medians[name] * 1000:7.1f} ms  "
            f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f})",
            flush=True,
        )
    return medians


def _quote(arg: str) -> str:
    return f'"{arg}"' if " " in arg else arg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-hyperfine", action="store_true", help="time with Python")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    bin_dir = Path(sys.executable).parent
    cli = str(bin_dir / "shipyard")
    python = sys.executable
    commands = {
        "python -c pass": [python, "-c", "pass"],
        "python -c 'import shipyard'": [python, "-c", "import shipyard"],
        "shipyard --help": [cli, "--help"],
        "shipyard runs list (empty project)": [cli, "runs", "list"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        subprocess.run(
            [cli, "runs", "list"], capture_output=True, cwd=cwd, check=False
        )  # creates the store
        use_hyperfine = shutil.which("hyperfine") is not None and not args.no_hyperfine
        tool = "hyperfine" if use_hyperfine else "python subprocess loop"
        print(f"timing with {tool}, {args.runs} runs each, median", flush=True)
        medians = (with_hyperfine if use_hyperfine else with_python)(commands, args.runs, cwd)

    print("\nmedians")
    for name, seconds in medians.items():
        print(f"  {name:<34} {seconds * 1000:7.1f} ms")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if args.json:
        args.json.write_text(
            json.dumps({"tool": tool, "runs": args.runs, "median_s": medians}, indent=2)
        )
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")


if __name__ == "__main__":
    main()
