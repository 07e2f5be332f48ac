"""The overhead of a fully cached rerun: a 4-step pipeline run again with nothing changed.

Run it with ``make -C benchmarks pipeline``. The pipeline (load -> split -> train ->
evaluate, a scikit-learn HistGradientBoostingRegressor on 5,000 synthetic rows) lives in
``project/pipeline.py``; a fresh copy of that project is made under ``.work/``.

Timed, end to end:

* **in process** — ``pipeline.run()`` called again in the same Python process (run 1
  executed every step; runs 2.. find all four cached). This is the overhead Shipyard
  adds: plan, fingerprint, look up the cache, record the run.
* **from the shell** — ``shipyard run bench`` in a new process each time, all steps
  cached: what a person waits for, interpreter start and imports included.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=10, help="cached reruns to time")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    shutil.rmtree(WORK, ignore_errors=True)
    project_dir = WORK / "project"
    shutil.copytree(HERE / "project", project_dir)
    (project_dir / "shipyard.yaml").write_text(
        f"pipelines:\n  bench:\n    entry: pipeline.py:bench\n    params: {{rows: {args.rows}}}\n"
    )
    os.chdir(project_dir)

    import shipyard
    from shipyard.project import Project

    project = Project.open(project_dir)
    bench = shipyard.load_pipeline("pipeline.py:bench", project_dir)

    t0 = time.perf_counter()
    first = bench.run(project=project)
    cold = time.perf_counter() - t0
    assert first.status == "succeeded" and first.cached == [], first
    print(f"run 1 (every step executes): {cold:.3f} s", flush=True)

    in_process = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        again = bench.run(project=project)
        in_process.append(time.perf_counter() - t0)
        assert again.cached == ["load", "split", "train", "evaluate"], again.cached
    print(
        f"cached rerun, in process: median {statistics.median(in_process) * 1000:.1f} ms "
        f"(min {min(in_process) * 1000:.1f}, max {max(in_process) * 1000:.1f}; n={args.repeats})"
    )

    cli = Path(sys.executable).with_name("shipyard")
    shell_runs = max(3, args.repeats // 2)
    from_shell, imports_only = [], []
    for _ in range(shell_runs):
        # the floor under it: a new interpreter importing the user's pipeline module
        # (pandas, scikit-learn), which any tool running this pipeline pays
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import pipeline"], cwd=project_dir, check=True)
        imports_only.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        out = subprocess.run(
            [str(cli), "run", "bench", "--json"],
            capture_output=True,
            text=True,
            cwd=project_dir,
            check=False,
        )
        from_shell.append(time.perf_counter() - t0)
        assert out.returncode == 0, out.stderr
        steps = json.loads(out.stdout)["steps"]
        assert [s["status"] for s in steps] == ["cached"] * 4, steps
    shell, floor = statistics.median(from_shell), statistics.median(imports_only)
    print(
        f"cached rerun, `shipyard run bench` from the shell: median {shell * 1000:.0f} ms "
        f"(min {min(from_shell) * 1000:.0f}, max {max(from_shell) * 1000:.0f}; n={shell_runs})"
    )
    print(
        f"  of which `python -c 'import pipeline'` (the user's imports): median "
        f"{floor * 1000:.0f} ms; Shipyard's part: {(shell - floor) * 1000:.0f} ms"
    )
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "cold_s": cold,
                    "in_process_s": in_process,
                    "from_shell_s": from_shell,
                    "import_pipeline_s": imports_only,
                },
                indent=2,
            )
        )
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")


if __name__ == "__main__":
    main()
