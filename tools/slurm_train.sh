#!/usr/bin/env bash
# Training on a Slurm cluster, mmdet/mmseg style (one task per GPU, srun starts them):
#   GPUS=16 bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py arguments]
# GPUS (8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS (extra srun options), PYTHON.
tools=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec bash "$tools/_srun.sh" "$1" "$2" "$tools/train.py" "$3" --work-dir="$4" "${@:5}"
