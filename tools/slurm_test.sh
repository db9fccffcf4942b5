#!/usr/bin/env bash
# Testing on a Slurm cluster, mmdet/mmseg style (one task per GPU, srun starts them):
#   GPUS=16 bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py arguments]
# GPUS (8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS (extra srun options), PYTHON.
set -x

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PYTHON=${PYTHON:-python}
PY_ARGS=${@:5}
tools=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

PYTHONPATH="$tools/..${PYTHONPATH:+:$PYTHONPATH}" \
srun -p ${PARTITION} \
    --job-name=${JOB_NAME} \
    --gres=gpu:${GPUS_PER_NODE} \
    --ntasks=${GPUS} \
    --ntasks-per-node=${GPUS_PER_NODE} \
    --cpus-per-task=${CPUS_PER_TASK} \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    ${PYTHON} -u "$tools/test.py" ${CONFIG} ${CHECKPOINT} --launcher="slurm" ${PY_ARGS}
