#!/usr/bin/env bash
# Distributed training over torchrun, mmdet/mmseg style:
#   bash tools/dist_train.sh CONFIG GPUS [train.py arguments]
# Without CUDA the processes use the gloo backend on CPU (one process per
# "GPU"; SyncBN becomes BN). NNODES, NODE_RANK, PORT, MASTER_ADDR as usual.
set -euo pipefail
tools=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec bash "$tools/_torchrun.sh" "$2" "$tools/train.py" "$1" "${@:3}"
