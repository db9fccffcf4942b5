#!/usr/bin/env bash
# Distributed testing over torchrun, mmdet/mmseg style:
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py arguments]
# Without CUDA the processes use the gloo backend on CPU (one process per
# "GPU"; SyncBN becomes BN). NNODES, NODE_RANK, PORT, MASTER_ADDR as usual.
set -euo pipefail
tools=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec bash "$tools/_torchrun.sh" "$3" "$tools/test.py" "$1" "$2" "${@:4}"
