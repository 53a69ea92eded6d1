#!/usr/bin/env bash
# On a GPU node without network: set up from a carried wheelhouse, then run
# the GPU check; both logs and the check's work dirs go to LOG_DIR.
#
# Usage: bash tools/gpu_node_check.sh WHEELHOUSE LOG_DIR [setup_env.sh args]
#   e.g. bash tools/gpu_node_check.sh ../mmrlkd-wheels logs/gpu-node
#        bash tools/gpu_node_check.sh ../mmrlkd-wheels logs --no-venv
# The extra arguments go to `tools/setup_env.sh --offline` (--no-venv,
# --cuda-ops); PYTHON and MMRLKD_VENV are honoured as there. The exit status
# is the set-up's if it failed, else the check's.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ $# -lt 2 ]]; then
    sed -n '2,10p' "${BASH_SOURCE[0]}" >&2
    exit 2
fi
WHEELHOUSE=$1 LOG_DIR=$2
shift 2
mkdir -p "$LOG_DIR"
LOG_DIR=$(cd "$LOG_DIR" && pwd)
START=$SECONDS
PY="${MMRLKD_VENV:-$ROOT/.venv}/bin/python"
for arg in "$@"; do
    [[ $arg != --no-venv ]] || PY=$(command -v "${PYTHON:-python3}")
done

bash "$ROOT/tools/setup_env.sh" --offline "$WHEELHOUSE" "$@" 2>&1 |
    tee "$LOG_DIR/setup.log"
status=${PIPESTATUS[0]}
SETUP_S=$((SECONDS - START))
if [[ $status != 0 ]]; then
    echo "set-up failed after ${SETUP_S} s (exit $status; log: $LOG_DIR/setup.log)" >&2
    exit "$status"
fi
"$PY" "$ROOT/tools/analysis/gpu_check.py" --out "$LOG_DIR/gpu_check" 2>&1 |
    tee "$LOG_DIR/gpu_check.log"
status=${PIPESTATUS[0]}
echo "set-up ${SETUP_S} s, GPU check $((SECONDS - START - SETUP_S)) s," \
    "total $((SECONDS - START)) s; logs in $LOG_DIR"
exit "$status"
