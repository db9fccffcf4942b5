#!/usr/bin/env bash
# Testing on a Slurm cluster, mmdet/mmseg style (one task per GPU, srun starts them):
#   GPUS=16 bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py arguments]
# GPUS (8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS (extra srun options), PYTHON.
tools=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec bash "$tools/_srun.sh" "$1" "$2" "$tools/test.py" "$3" "$4" "${@:5}"
