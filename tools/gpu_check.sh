#!/usr/bin/env bash
# GPU acceptance of the mmmamba kernels in one command, on a machine without network access:
#
#   bash tools/gpu_check.sh [--cpu] [--bundle DIR] [--out DIR] [--items abcde]
#
# On a GPU machine (the lent image: CPython 3.12, a CUDA torch, Triton, nvcc, ninja, pytest, timm):
# installs the wheels of tools/gpu_bundle.sh (DIR/cp3XX, default .gpu_bundle) into OUT/site,
# builds mmmamba._C with the CUDA kernels for the visible GPU (ninja, all cores), then runs
# benchmarks/gpu_acceptance: a ops vs reference, b compute-sanitizer, c backbone agreement and AMP
# training, d timings beside timm's Swin-T, e tools/train.py. Each item is timed, a failure does not
# stop the others; the summary comes last, also in OUT/report.md and OUT/report.json (default
# OUT: work_dirs/gpu_check). Exits 1 when an item failed.
#
# --cpu: the rehearsal on a machine without a GPU. A venv of this machine's python3 holding torch
# (the pin of requirements/constraints.txt), pytest and the image's packages
# (requirements/gpu_image.txt), reused while its key (Python, those files, setup.py, csrc/) is
# unchanged, under build/gpu_rehearsal/. The working tree is copied there and built with
# `pip install -e . --no-build-isolation --no-deps` (C++ and host-compiled CUDA kernels); then
# `from mmmamba import ops` is checked with torch alone, and items a-e run at small sizes on the
# cpu and cuda_host backends with the bundle (made by `tools/gpu_bundle.sh --python 3.11`).
#
# Settings: PYTHON (default python3), TORCH_CUDA_ARCH_LIST (default: the visible GPU's).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
py=${PYTHON:-python3}
cpu=0
bundle=$repo/.gpu_bundle
out=$repo/work_dirs/gpu_check
items=abcde

log() { printf '[gpu_check %3ds] %s\n' "$SECONDS" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
entry() {  # a report entry for gpu_acceptance --prior: status, seconds, summary
    "$py" -c 'import json, sys; print(json.dumps(dict(status=sys.argv[1],
        seconds=float(sys.argv[2]), summary=sys.argv[3], details=None)))' "$@"
}

while [ $# -gt 0 ]; do
    case $1 in
        --cpu) cpu=1; shift ;;
        --bundle) bundle=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --items) items=$2; shift 2 ;;
        *) die "unknown argument '$1' (use --cpu, --bundle DIR, --out DIR, --items abcde)" ;;
    esac
done
command -v "$py" >/dev/null || die "no python at '$py': set PYTHON"
mkdir -p "$out"
out=$(cd "$out" && pwd)
tag=$("$py" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
wheels=$bundle/$tag
ls "$wheels"/*.whl >/dev/null 2>&1 \
    || die "no wheels in $wheels: run 'bash tools/gpu_bundle.sh --python ${tag:2:1}.${tag:3}' first"

install_bundle() {  # install_bundle SITE: the bundle's wheels into SITE (PYTHONPATH), once
    local site=$1 stamp
    stamp=$(cat "$wheels/.stamp")
    if [ "$(cat "$site/.stamp" 2>/dev/null)" != "$stamp" ]; then
        rm -rf "$site"
        "$py" -m pip install -q --no-index --no-deps --no-compile --target "$site" "$wheels"/*.whl \
            || die "installing the bundle from $wheels failed"
        echo "$stamp" >"$site/.stamp"
    fi
}

acceptance() {  # acceptance DEVICE PRIOR...: run benchmarks/gpu_acceptance, summary last
    local device=$1 prior=() arg
    shift
    for arg in "$@"; do prior+=(--prior "$arg"); done
    set +e
    PYTHONUNBUFFERED=1 "$py" benchmarks/gpu_acceptance --device "$device" --out "$out" \
        --items "$items" "${prior[@]}"
    local code=$?
    set -e
    log "report: $out/report.md and $out/report.json"
    return $code
}

if [ $cpu = 0 ]; then
    cd "$repo"
    command -v nvidia-smi >/dev/null && nvidia-smi -L >&2 || die "no GPU visible (nvidia-smi)"
    (cd benchmarks && "$py" -m gpu_acceptance.versions) || exit 1
    install_bundle "$out/site"
    export PYTHONPATH=$out/site${PYTHONPATH:+:$PYTHONPATH}
    unset TRITON_INTERPRET
    if [ -z "${TORCH_CUDA_ARCH_LIST:-}" ]; then
        TORCH_CUDA_ARCH_LIST=$("$py" -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())')
        export TORCH_CUDA_ARCH_LIST
    fi
    log "building mmmamba._C with the CUDA kernels for $TORCH_CUDA_ARCH_LIST (log: $out/build.log)"
    start=$SECONDS
    status=PASS
    MMMAMBA_WITH_CUDA=1 MAX_JOBS=$(nproc) "$py" -m pip install -e . --no-build-isolation --no-deps \
        >"$out/build.log" 2>&1 || status=FAIL
    [ $status = PASS ] && "$py" -c 'import sys, mmmamba._C as C; sys.exit(not C.has_cuda())' \
        2>>"$out/build.log" || status=FAIL
    [ $status = PASS ] || tail -n 30 "$out/build.log" >&2
    build=$(entry $status $((SECONDS - start)) "mmmamba._C with CUDA kernels for sm_${TORCH_CUDA_ARCH_LIST/./} (log: build.log)")
    acceptance cuda "build=$build"
    exit $?
fi

# --cpu: the rehearsal
torch_pin=$(grep -E '^torch==' "$repo/requirements/constraints.txt" | cut -d' ' -f1)
key=$( (cd "$repo" && "$py" --version && echo "$torch_pin" && cat requirements/gpu_image.txt \
        setup.py pyproject.toml && find csrc -type f | sort | xargs cat) | sha256sum | cut -c1-16)
home=$repo/build/gpu_rehearsal
work=$home/$key
venv=$work/venv
src=$work/src
find "$home" -mindepth 1 -maxdepth 1 ! -name "$key" -exec rm -rf {} + 2>/dev/null || true
if [ ! -x "$venv/bin/python" ] || [ ! -e "$work/.venv_ready" ]; then
    log "making the venv $venv: $torch_pin, pytest, requirements/gpu_image.txt"
    rm -rf "$work"
    "$py" -m venv "$venv"
    "$venv/bin/pip" install -q "$torch_pin" pytest || die "installing $torch_pin and pytest failed"
    "$venv/bin/pip" install -q --no-deps -r "$repo/requirements/gpu_image.txt" \
        || die "installing requirements/gpu_image.txt failed"
    touch "$work/.venv_ready"
fi
py=$venv/bin/python
export PATH=$venv/bin:$PATH  # ninja
log "copying the working tree to $src"
mkdir -p "$src"
find "$src" -mindepth 1 -maxdepth 1 ! -name mmmamba ! -name build -exec rm -rf {} +
find "$src/mmmamba" -mindepth 1 ! -name '*.so' -delete 2>/dev/null || true
(cd "$repo" && git ls-files -co --exclude-standard | while IFS= read -r f; do
    [ -e "$f" ] && printf '%s\0' "$f"; done | xargs -0 cp --parents -t "$src")
cd "$src"
start=$SECONDS
if ls mmmamba/_C.*.so mmmamba/_C_cuda_host.*.so >/dev/null 2>&1; then
    build=$(entry PASS 0 "mmmamba._C and mmmamba._C_cuda_host: reused (built earlier for key $key)")
else
    log "building mmmamba._C and mmmamba._C_cuda_host (log: $out/build.log)"
    status=PASS
    MMMAMBA_BUILD_CUDA_HOST=1 MAX_JOBS=$(nproc) "$py" -m pip install -e . --no-build-isolation \
        --no-deps >"$out/build.log" 2>&1 || { status=FAIL; tail -n 30 "$out/build.log" >&2; }
    build=$(entry $status $((SECONDS - start)) \
        "pip install -e . --no-build-isolation --no-deps in a torch-only venv (log: build.log)")
fi
log "from mmmamba import ops with torch alone"
(cd benchmarks && "$py" -m gpu_acceptance.versions --no-triton) || exit 1
torch_only=$(cd benchmarks && "$py" -m gpu_acceptance.torch_only) || true
[ -n "$torch_only" ] || torch_only=$(entry FAIL 0 "gpu_acceptance.torch_only printed nothing")
install_bundle "$work/site"
export PYTHONPATH=$work/site
acceptance cpu "build=$build" "torch_only=$torch_only"
