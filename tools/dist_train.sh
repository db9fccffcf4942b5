#!/usr/bin/env bash
# Distributed training over torchrun, mmdet/mmseg style:
#   bash tools/dist_train.sh CONFIG GPUS [train.py arguments]
# Without CUDA the processes use the gloo backend on CPU (one process per
# "GPU"; SyncBN becomes BN). NNODES, NODE_RANK, PORT, MASTER_ADDR as usual.
set -euo pipefail
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}
tools=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# the workers stop when this process (torchrun's agent, after exec) dies
export MMMAMBA_LAUNCHER_PID=$$
PYTHONPATH="$tools/..${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$tools/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
