"""Under 32 concurrent clients every served request has its event in the sink.

Runs ``benchmarks/monitoring/events_load.py`` (a real uvicorn server process, wrk as the
clients) for 10 s per run, alternating events off and on twice; the benchmark itself
runs the full 60 s and prints the p99 comparison.

The issue also asks for p99 with events on within 10% of events off. That is a
measurement, not a test: 10 s runs on two shared cores swing by more than 10% with no
events on either side, so the benchmark measures it (``--slice``: both servers
interleaved, every round pooled, with a bootstrap interval) and benchmarks/RESULTS.md
records it. This test records its run's ratio as a property and judges completeness.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "monitoring" / "events_load.py"


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_every_served_request_has_its_event_under_32_clients(
    record_property: pytest.RecordProperty,
) -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install -y wrk)")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--seconds", "10", "--connections", "32", "--rounds", "2", "--json"],
        capture_output=True, text=True, timeout=280,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for run in result["runs"]:
        assert run["exit_code"] == 0 and run["non_2xx"] == 0
        if run["events"]:
            assert run["stored"] == run["served"] > 1000
    record_property("p99_ratio", result["p99_ratio"])  # measured, not judged (docstring)
