#!/usr/bin/env bash
# Multi-process training with torchrun (one process per GPU, or CPU + gloo).
#   bash tools/dist_train.sh CONFIG NUM_PROCESSES [train.py args...]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node.
set -euo pipefail
if [[ $# -lt 2 ]]; then
    echo "usage: $0 CONFIG NUM_PROCESSES [train.py args...]" >&2
    exit 2
fi
CONFIG=$1
NPROC=$2
shift 2
exec bash "$(dirname "${BASH_SOURCE[0]}")/torchrun_launch.sh" \
    "$NPROC" train.py "$CONFIG" "$@"
