#!/usr/bin/env bash
# What dist_train.sh and dist_test.sh share: run a tool over torchrun,
#   bash tools/_torchrun.sh GPUS TOOL.py [arguments]
# NNODES, NODE_RANK, PORT, MASTER_ADDR, PYTHON as usual. The workers stop when
# this process (torchrun's agent, after exec) dies: see tools/_launcher.py.
set -euo pipefail
GPUS=$1
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}
tools=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

export MMMAMBA_LAUNCHER_PID=$$
PYTHONPATH="$tools/..${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "${@:2}" --launcher pytorch
