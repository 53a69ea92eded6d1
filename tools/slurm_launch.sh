#!/usr/bin/env bash
# Shared by slurm_train.sh / slurm_test.sh: run a tools/ script with srun,
# one task per GPU.
#   bash tools/slurm_launch.sh PARTITION JOB_NAME SCRIPT [args...]
# Environment: GPUS (total, default 8), GPUS_PER_NODE (default: GPUS, at
# most 8), CPUS_PER_TASK (default 5), SRUN_ARGS (extra srun arguments);
# PORT (default: random, exported to every task as MASTER_PORT), PYTHON
# (default: the venv's python) and MMRLKD_DRY_RUN: see launch_common.sh.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
SCRIPT=$3
shift 3
# shellcheck source=tools/launch_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"
positive_int() {  # positive_int NAME VALUE
    if ! [[ "$2" =~ ^[1-9][0-9]*$ ]]; then
        echo "$0: $1 must be a positive integer, got '$2'" >&2
        exit 2
    fi
}
GPUS=${GPUS:-8}
positive_int GPUS "$GPUS"
GPUS_PER_NODE=${GPUS_PER_NODE:-$((GPUS < 8 ? GPUS : 8))}
positive_int GPUS_PER_NODE "$GPUS_PER_NODE"
PY=$(launch_python)
# One port for all tasks, chosen here: MMEngine's Slurm set-up otherwise
# takes 29500 on each node when it looks free there.
PORT=${PORT:-$(free_port "$PY")}
# shellcheck disable=SC2086
run_or_print env PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" MASTER_PORT="$PORT" \
    srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="${CPUS_PER_TASK:-5}" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS:-} \
    "$PY" -u "$ROOT/tools/$SCRIPT" "$@" --launcher=slurm
