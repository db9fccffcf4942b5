#!/usr/bin/env bash
# One-command GPU acceptance of the mmmamba kernels, on a machine with a CUDA GPU:
#
#   bash tools/gpu_check.sh [benchmarks/gpu_acceptance.py arguments]
#
# Steps: check for a GPU -> build mmmamba._C with the CUDA kernels -> generate the tiny dataset ->
# pytest tests/ops on CUDA (cuda and triton backends against the reference) ->
# benchmarks/gpu_acceptance.py (backbone features agree across backends, 50 AMP training
# iterations in fp16 and bf16, per-op and backbone timing and peak memory). The report goes to
# work_dirs/gpu_check/report.md and report.json (the build log beside them). Nothing is
# downloaded: the environment must already hold a CUDA build of torch and the stack of
# requirements/ (see the README's Install section).
#
# Settings (environment variables):
#   PYTHON                the interpreter of that environment (default: $MMMAMBA_VENV/bin/python
#                         when MMMAMBA_VENV is set, else the `python` on PATH)
#   TORCH_CUDA_ARCH_LIST  GPU architectures to compile for (default: this GPU's, e.g. 9.0)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
py=${PYTHON:-${MMMAMBA_VENV:+$MMMAMBA_VENV/bin/python}}
py=${py:-python}
out=work_dirs/gpu_check
steps=5
step=0
step_start=0

log() { printf '[gpu_check %3ds] %s\n' "$SECONDS" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
begin() {
    step=$((step + 1))
    step_start=$SECONDS
    log "step $step/$steps: $*"
}
end() { log "step $step/$steps done in $((SECONDS - step_start))s"; }

cd "$repo"
mkdir -p "$out"

begin "checking for a CUDA GPU ($py)"
command -v "$py" >/dev/null || die "no python at '$py': set PYTHON or MMMAMBA_VENV"
command -v nvidia-smi >/dev/null || die "nvidia-smi not found: this check needs a CUDA GPU"
nvidia-smi -L >&2 || die "nvidia-smi sees no GPU (driver not loaded?): this check needs a CUDA GPU"
"$py" - <<'EOF' || die "torch cannot use the GPU: install a CUDA build of torch in this environment"
import sys
import torch
if not torch.cuda.is_available():
    sys.exit(f'torch {torch.__version__} (CUDA {torch.version.cuda}): '
             'torch.cuda.is_available() is False')
print(f'torch {torch.__version__} (CUDA {torch.version.cuda}) on '
      f'{torch.cuda.get_device_name()}', file=sys.stderr)
EOF
if [ -n "${TRITON_INTERPRET:-}" ]; then
    log "unsetting TRITON_INTERPRET=$TRITON_INTERPRET (the Triton kernels must run on the GPU)"
    unset TRITON_INTERPRET
fi
end

begin "building mmmamba._C with the CUDA kernels (log: $out/build.log)"
if [ -z "${TORCH_CUDA_ARCH_LIST:-}" ]; then
    TORCH_CUDA_ARCH_LIST=$("$py" -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())')
    export TORCH_CUDA_ARCH_LIST
fi
log "TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST"
# --no-deps: the environment is complete; pip must not reach for the network
if ! MMMAMBA_WITH_CUDA=1 "$py" -m pip install -e . --no-build-isolation --no-deps \
        >"$out/build.log" 2>&1; then
    tail -n 40 "$out/build.log" >&2
    die "the build failed (last lines above, all of them in $out/build.log)"
fi
"$py" -c 'import sys, mmmamba._C as C; sys.exit(0 if C.has_cuda() else 1)' \
    || die "mmmamba._C was built without the CUDA kernels (see $out/build.log)"
end

begin "generating the tiny ADE20K-layout dataset (data/tiny/ade)"
"$py" tools/make_tiny_dataset.py --out data/tiny --only ade
end

begin "pytest tests/ops on CUDA (cuda and triton against the reference)"
# without the CPU-only checks: the host emulation of the CUDA kernels
# (cuda_host, not built here) and the compile-only nvcc / Triton AOT tests
"$py" -m pytest tests/ops -q -x --ignore=tests/ops/test_cuda_host.py \
    --ignore=tests/ops/test_cuda_host_tsan.py --ignore=tests/ops/test_cuda_compile.py \
    --ignore=tests/ops/test_triton_aot.py
end

begin "benchmarks/gpu_acceptance.py (agreement, AMP training, timing)"
"$py" benchmarks/gpu_acceptance.py --device cuda --out "$out" "$@"
end

log "all $steps steps passed in ${SECONDS}s; report: $out/report.md and $out/report.json"
