#!/usr/bin/env bash
# Shared by dist_train.sh / dist_test.sh: run a tools/ script under torchrun.
#   bash tools/torchrun_launch.sh NUM_PROCESSES SCRIPT [args...]
# Single node: the master port is a random free one (PORT overrides).
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and the same PORT on every
# node (default 29500 there, as the nodes must agree).
# PYTHON (default: the venv's python) and MMRLKD_DRY_RUN: see
# launch_common.sh. Works without CUDA too (gloo backend; see
# mmrlkd.utils.prepare_distributed).
set -euo pipefail
NPROC=$1
SCRIPT=$2
shift 2
# shellcheck source=tools/launch_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"
PY=$(launch_python)
NNODES=${NNODES:-1}
if [[ -z "${PORT:-}" ]]; then
    if [[ "$NNODES" == 1 ]]; then
        PORT=$(free_port "$PY")
    else
        PORT=29500
    fi
fi
run_or_print env PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PY" \
    -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="$PORT" \
    --nproc_per_node="$NPROC" \
    "$ROOT/tools/$SCRIPT" "$@" --launcher pytorch
