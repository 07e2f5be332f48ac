#!/usr/bin/env bash
# Make benchmarks/.venv-evidently: Evidently 0.7 needs pandas < 3, so it never goes into
# the project's .venv. Used by drift_vs_evidently.py, which runs Evidently in a subprocess
# on the same Parquet files. Idempotent: does nothing when the venv already imports it.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="$HERE/../.venv-evidently"
PYTHON="${PYTHON:-python3.11}"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import evidently, pandas" 2>/dev/null; then
    exit 0
fi
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet 'evidently==0.7.*' 'pandas<3' pyarrow
