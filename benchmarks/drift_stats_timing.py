"""Time KS + PSI over 100k x 20 columns: shipyard's numeric_drift against a scipy ks_2samp loop.

Run: .venv/bin/python benchmarks/drift_stats_timing.py

Two cases: no drift, and a mild shift (0.02 sd) in every column, which puts every
KS p-value in the branch of scipy.stats.kstwo that is slow (n*D^2 between 2.2 and 370).
The baseline is what one would write with scipy: ks_2samp per column plus numpy PSI
over 10 reference-quantile bins. Best of several runs; the machine is shared.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats

from shipyard.monitoring.drift_stats import ks_columns, numeric_drift

ROWS, COLUMNS, BINS = 100_000, 20, 10


def best_of(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def scipy_loop(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pvalues, psis = np.empty(ref.shape[1]), np.empty(ref.shape[1])
    for j in range(ref.shape[1]):
        pvalues[j] = stats.ks_2samp(ref[:, j], cur[:, j], method="asymp").pvalue
        edges = np.quantile(ref[:, j], np.arange(1, BINS) / BINS)
        p = np.bincount(np.searchsorted(edges, ref[:, j], side="right"), minlength=BINS) / len(ref)
        q = np.bincount(np.searchsorted(edges, cur[:, j], side="right"), minlength=BINS) / len(cur)
        p, q = np.maximum(p, 1e-4), np.maximum(q, 1e-4)
        psis[j] = np.sum((q - p) * np.log(q / p))
    return pvalues, psis


def main() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(ROWS, COLUMNS))
    numeric_drift(ref[:1000], ref[:1000])  # warm imports and caches
    print(f"{ROWS:,} x {COLUMNS} reference vs {ROWS:,} x {COLUMNS} current, {BINS} PSI bins")
    print(
        f"{'case':<24}{'numeric_drift':>15}{'ks_columns':>12}{'scipy loop':>12}{'speed-up':>10}{'max |dp|':>11}"
    )
    for case, shift in (("no drift", 0.0), ("mild drift, all cols", 0.02)):
        cur = rng.normal(shift, 1.0, size=(ROWS, COLUMNS))
        ours_s, ours = best_of(lambda cur=cur: numeric_drift(ref, cur, n_bins=BINS), 5)
        ks_s, _ = best_of(lambda cur=cur: ks_columns(ref, cur), 5)
        loop_s, (loop_p, loop_psi) = best_of(lambda cur=cur: scipy_loop(ref, cur), 3)
        dp = float(np.max(np.abs(ours.ks_pvalue - loop_p)))
        assert np.allclose(ours.psi, loop_psi, atol=1e-12), "PSI disagrees with the loop"
        print(
            f"{case:<24}{ours_s:>14.3f}s{ks_s:>11.3f}s{loop_s:>11.3f}s"
            f"{loop_s / ours_s:>9.1f}x{dp:>11.1e}"
        )


if __name__ == "__main__":
    main()
