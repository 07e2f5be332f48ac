"""Drift on 100k x 20 numeric columns: Shipyard's KS + PSI against Evidently's DataDriftPreset.

Both read the same two Parquet files (reference, current); each side's clock covers only
the computation (data loaded, libraries imported). Evidently 0.7 needs pandas < 3, so it
runs in its own venv, ``benchmarks/.venv-evidently`` (``benchmarks/monitoring/setup.sh``
makes it), as a subprocess of this script.

    .venv/bin/python benchmarks/monitoring/drift_vs_evidently.py [--rows 100000] [--columns 20]
        [--evidently-python benchmarks/.venv-evidently/bin/python] [--json]

Timed: Shipyard ``numeric_drift`` (KS statistic and p-value, PSI and Jensen-Shannon on 10
reference-quantile bins, every column, one sort each); Evidently ``DataDriftPreset`` with
its default method per column, with ``method="ks"`` and with ``method="psi"``; and the
plain ``scipy.stats.ks_2samp`` loop for scale. Checked: Evidently's KS p-values equal
Shipyard's (Evidently calls ``ks_2samp``, which is the asymptotic method at this size), and
Evidently's PSI equals ``drift_stats.psi`` over Evidently's own bins (Sturges bins on the
pooled data, its zero fill): the same statistic, to 1e-9.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
DEFAULT_EVIDENTLY = HERE.parent / ".venv-evidently" / "bin" / "python"


# ---------------------------------------------------------------------- data
def make_data(rows: int, columns: int, seed: int = 0) -> tuple[Path, Path]:
    """Reference and current frames: normal, lognormal and uniform columns; some shifted."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)

    def draw(shift: np.ndarray) -> pd.DataFrame:
        out = {}
        for j in range(columns):
            kind = j % 3
            if kind == 0:
                x = rng.normal(0.0, 1.0, rows)
            elif kind == 1:
                x = rng.lognormal(0.0, 0.5, rows)
            else:
                x = rng.uniform(0.0, 10.0, rows)
            out[f"f{j:02d}"] = x + shift[j] * x.std()
        return pd.DataFrame(out)

    shift = np.zeros(columns)
    shift[::4] = 0.02  # mild: KS p-values in scipy.kstwo's slow branch
    shift[1::7] = 0.2  # clear drift
    WORK.mkdir(exist_ok=True)
    ref_path, cur_path = WORK / "reference.parquet", WORK / "current.parquet"
    draw(np.zeros(columns)).to_parquet(ref_path)
    draw(shift).to_parquet(cur_path)
    return ref_path, cur_path


# ---------------------------------------------------------------------- Shipyard side
def best_of(fn: Any, repeats: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def shipyard_side(ref_path: Path, cur_path: Path, repeats: int) -> dict[str, Any]:
    import numpy as np
    import pandas as pd
    from scipy import stats

    from shipyard.monitoring.drift_stats import numeric_drift

    ref_df, cur_df = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    ref, cur = ref_df.to_numpy(), cur_df.to_numpy()
    numeric_drift(ref[:1000], cur[:1000])  # warm up imports and caches
    seconds, drift = best_of(lambda: numeric_drift(ref, cur, n_bins=10), repeats)

    def scipy_loop() -> np.ndarray:
        return np.array([stats.ks_2samp(ref[:, j], cur[:, j]).pvalue for j in range(ref.shape[1])])

    scipy_seconds, _ = best_of(scipy_loop, 1)
    return {
        "columns": list(ref_df.columns),
        "seconds": seconds,
        "scipy_ks_loop_seconds": scipy_seconds,
        "ks_pvalue": drift.ks_pvalue.tolist(),
        "ks_statistic": drift.ks_statistic.tolist(),
        "psi": drift.psi.tolist(),
    }


def evidently_bins_psi(ref_path: Path, cur_path: Path) -> list[tuple[float, bool]]:
    """``drift_stats.psi`` over Evidently's bins (Sturges bins on the pooled data).

    Returns (psi, has_empty_bin) per column. Where a bin is empty on one side the two
    differ by convention only: Evidently fills the empty proportion (1e-4 or min/1e6)
    without renormalising, drift_stats floors every proportion at ``eps`` and
    renormalises; on bins without an empty one both are the same sum.
    """
    import numpy as np
    import pandas as pd

    from shipyard.monitoring.drift_stats import psi

    ref_df, cur_df = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    out = []
    for name in ref_df.columns:
        r, c = ref_df[name].to_numpy(), cur_df[name].to_numpy()
        edges = np.histogram_bin_edges(np.concatenate([r, c]), bins="sturges")
        rc, cc = np.histogram(r, edges)[0], np.histogram(c, edges)[0]
        out.append((psi(rc, cc, eps=1e-300), bool((rc == 0).any() or (cc == 0).any())))
    return out


# ---------------------------------------------------------------------- Evidently side
def evidently_worker(ref_path: str, cur_path: str, repeats: int) -> None:
    """Runs inside benchmarks/.venv-evidently: times DataDriftPreset, prints JSON."""
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    Report([DataDriftPreset(method="ks")]).run(
        current_data=cur.head(500), reference_data=ref.head(500)
    )
    result: dict[str, Any] = {"versions": {}}
    import evidently

    result["versions"] = {"evidently": evidently.__version__, "pandas": pd.__version__}
    for label, method in (("default", None), ("ks", "ks"), ("psi", "psi")):
        best, values = float("inf"), {}
        for _ in range(repeats):
            report = Report([DataDriftPreset(method=method)])
            start = time.perf_counter()
            snapshot = report.run(current_data=cur, reference_data=ref)
            best = min(best, time.perf_counter() - start)
        for metric in snapshot.dict()["metrics"]:
            config = metric["config"]
            if config.get("type", "").endswith("ValueDrift"):
                values[config["column"]] = {
                    "method": config["method"],
                    "value": float(metric["value"]),
                }
        result[label] = {"seconds": best, "values": values}
    print(json.dumps(result))


# ---------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many (Evidently: 1)")
    parser.add_argument("--evidently-python", type=Path, default=DEFAULT_EVIDENTLY)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.evidently_python.exists():
        sys.exit(f"no {args.evidently_python}: run benchmarks/monitoring/setup.sh first")
    ref_path, cur_path = make_data(args.rows, args.columns)
    ours = shipyard_side(ref_path, cur_path, args.repeats)
    done = subprocess.run(
        [str(args.evidently_python), __file__, "--evidently-worker", str(ref_path), str(cur_path), "1"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    columns = ours["columns"]
    ks_diff = max(
        abs(theirs["ks"]["values"][c]["value"] - p)
        for c, p in zip(columns, ours["ks_pvalue"], strict=True)
    )
    same_bins = evidently_bins_psi(ref_path, cur_path)
    diffs = [
        (abs(theirs["psi"]["values"][c]["value"] - p), empty)
        for c, (p, empty) in zip(columns, same_bins, strict=True)
    ]
    psi_diff = max((d for d, empty in diffs if not empty), default=float("nan"))
    psi_diff_empty = max((d for d, empty in diffs if empty), default=0.0)
    evidently_ks_psi = theirs["ks"]["seconds"] + theirs["psi"]["seconds"]
    summary = {
        "rows": args.rows,
        "columns": args.columns,
        "versions": theirs["versions"],
        "shipyard_ks_psi_js_seconds": ours["seconds"],
        "scipy_ks_loop_seconds": ours["scipy_ks_loop_seconds"],
        "evidently_default_seconds": theirs["default"]["seconds"],
        "evidently_default_methods": sorted(
            {v["method"] for v in theirs["default"]["values"].values()}
        ),
        "evidently_ks_seconds": theirs["ks"]["seconds"],
        "evidently_psi_seconds": theirs["psi"]["seconds"],
        "speedup_vs_evidently_ks_plus_psi": evidently_ks_psi / ours["seconds"],
        "speedup_vs_evidently_default": theirs["default"]["seconds"] / ours["seconds"],
        "max_abs_diff_ks_pvalue": ks_diff,
        "max_abs_diff_psi_same_bins": psi_diff,
        "columns_with_an_empty_bin": sum(empty for _, empty in diffs),
        "max_abs_diff_psi_empty_bin_columns": psi_diff_empty,
        "drifted_columns_ks": [
            c for c, p in zip(columns, ours["ks_pvalue"], strict=True) if p < 0.05
        ],
    }
    if args.json:
        print(json.dumps(summary))
        return
    print(
        f"{args.rows:,} rows x {args.columns} columns, Evidently {theirs['versions']['evidently']}"
    )
    print("| what | seconds |\n| --- | --- |")
    print(f"| Shipyard numeric_drift (KS + PSI + JS, every column) | {ours['seconds']:.3f} |")
    print(f"| scipy ks_2samp loop (KS only) | {ours['scipy_ks_loop_seconds']:.3f} |")
    print(
        f"| Evidently DataDriftPreset, default ({', '.join(summary['evidently_default_methods'])}) | {summary['evidently_default_seconds']:.3f} |"
    )
    print(f"| Evidently DataDriftPreset(method='ks') | {summary['evidently_ks_seconds']:.3f} |")
    print(f"| Evidently DataDriftPreset(method='psi') | {summary['evidently_psi_seconds']:.3f} |")
    print(f"speed-up vs Evidently KS + PSI: {summary['speedup_vs_evidently_ks_plus_psi']:.1f}x; "
          f"vs its default preset: {summary['speedup_vs_evidently_default']:.1f}x")  # fmt: skip
    print(
        f"KS p-value max |diff| {ks_diff:.2e}; PSI on Evidently's bins max |diff| {psi_diff:.2e} "
        f"({len(diffs) - summary['columns_with_an_empty_bin']} columns without an empty bin; "
        f"{summary['columns_with_an_empty_bin']} with one differ by the zero-fill convention, "
        f"up to {psi_diff_empty:.2e})"
    )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--evidently-worker":
        evidently_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
