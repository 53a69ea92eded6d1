#!/usr/bin/env bash
# Shared by dist_train.sh / dist_test.sh: run a tools/ script under torchrun.
#   bash tools/torchrun_launch.sh NUM_PROCESSES SCRIPT [args...]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node.
# Works without CUDA too (gloo backend; see mmrlkd.utils.prepare_distributed).
set -euo pipefail
NPROC=$1
SCRIPT=$2
shift 2
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHONPATH="$ROOT:${PYTHONPATH:-}" exec "${PYTHON:-python}" \
    -m torch.distributed.run \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${PORT:-29500}" \
    --nproc_per_node="$NPROC" \
    "$ROOT/tools/$SCRIPT" "$@" --launcher pytorch
