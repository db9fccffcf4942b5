#!/usr/bin/env bash
# What slurm_train.sh and slurm_test.sh share: run a tool on a Slurm cluster,
# one task per GPU, srun starts them:
#   bash tools/_srun.sh PARTITION JOB_NAME TOOL.py [arguments]
# GPUS (8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS (extra srun
# options), PYTHON. Each task stops when its parent (slurmstepd) dies: see
# tools/_launcher.py.
set -x

PARTITION=$1
JOB_NAME=$2
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PYTHON=${PYTHON:-python}
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
    ${PYTHON} -u "${@:3}" --launcher="slurm"
