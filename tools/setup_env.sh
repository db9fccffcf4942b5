#!/usr/bin/env bash
# Create or update mmmamba's Python environment. Idempotent: run it as often as you like.
#
#   bash tools/setup_env.sh
#
# Settings (environment variables):
#   MMMAMBA_VENV         the virtual environment (default: <repo>/.venv; created when missing)
#   MMMAMBA_WHEEL_CACHE  where the compiled mmcv wheel is kept between environments
#                        (default: ${XDG_CACHE_HOME:-$HOME/.cache}/mmmamba/wheels)
#   PYTHON               the interpreter that creates a new venv (default: python3; >= 3.10)
#
# Steps: venv -> torch -> mmcv with compiled ops (reuse, cached wheel, ../shared/wheels, or a
# ~10 min source build) -> the rest of requirements/ -> mmmamba (editable) -> import check.
# When requirements/, setup.py, csrc/ and this script are unchanged since the last successful
# run (a stamp in the venv) and the import check passes, it does no pip work at all.
set -Eeuo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${MMMAMBA_VENV:-$repo/.venv}
wheel_cache=${MMMAMBA_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmmamba/wheels}
shared_wheels=$repo/../shared/wheels
# The wheel in shared/wheels was built against this torch (CPU build); see shared/TOOLCHAIN.md.
shared_wheel_torch=2.13.0+cpu
constraints=$repo/requirements/constraints.txt
stamp=$venv/.mmmamba-setup-stamp

log() { printf '[setup_env %3ds] %s\n' "$SECONDS" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
trap 'log "ERROR: the set-up stopped (status $?); the lines above say why"' ERR

cd "$repo"

# ---- what the environment is built from; a change to any of these redoes the pip work
inputs_hash() {
    local inputs=(setup.py pyproject.toml tools/setup_env.sh requirements)
    if [ -d csrc ]; then inputs+=(csrc); fi  # a clone has no csrc/ until it holds a file
    find "${inputs[@]}" -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}

import_check() {
    "$py" - <<'EOF'
import importlib
import importlib.util
import sys
import warnings

warnings.filterwarnings('ignore', 'pkg_resources is deprecated')
failed = []
for name in ['torch', 'mmengine', 'mmcv.ops', 'mmdet.models', 'mmseg.models', 'triton',
             'pkg_resources', 'mmmamba', 'mmmamba._C', 'mmmamba._C_cuda_host']:
    try:
        importlib.import_module(name)
    except Exception as exc:  # report every failure, not just the first
        failed.append(f'import {name}: {type(exc).__name__}: {exc}')
if importlib.util.find_spec('torchvision') is not None:
    failed.append('torchvision is installed: it breaks beside the CPU torch '
                  '(pip uninstall torchvision)')
if failed:
    print('\n'.join(failed), file=sys.stderr)
    sys.exit(1)
EOF
}

py=$venv/bin/python
if [ -x "$py" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$(inputs_hash)" ] && import_check 2>/dev/null; then
    log "environment $venv is up to date"
    exit 0
fi

# ---- 1. the venv and the build tools
if [ ! -x "$py" ]; then
    PYTHON=${PYTHON:-python3}
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
        || die "$PYTHON is older than 3.10"
    log "creating venv $venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv "$venv"
fi
export PATH="$venv/bin:$PATH"  # the mmcv build finds ninja here (without it: a slow serial build)
export PIP_DISABLE_PIP_VERSION_CHECK=1
# pip, less a warning that this workplace's pip config prints for each package (an extra index
# folder that does not exist); everything else pip says still reaches stderr.
pip() {
    { "$py" -m pip "$@" 2>&1 1>&3 \
        | sed "/^WARNING: Location 'file:.*' is ignored: it is neither a file nor a directory/d" >&2
    } 3>&1
}
pip_install() { pip install -q -c "$constraints" "$@"; }  # every install obeys the tested pins

log "installing build tools (setuptools<82, wheel, ninja)"
pip_install 'setuptools<82' wheel ninja

# ---- 2. torch: the CPU build pinned in requirements/constraints.txt
log "installing torch (first time: about 45 s, 0.9 GB)"
pip_install torch
torch_version=$("$py" -c 'from importlib.metadata import version; print(version("torch"))')
log "torch $torch_version"

# ---- 3. mmcv with its compiled ops (PyPI has no wheel for it)
mmcv_version=$(sed -n 's/^mmcv==\([^ #]*\).*/\1/p' "$constraints")
tag=$("$py" -c 'import sys, sysconfig; v = "cp%d%d" % sys.version_info[:2]
print(f"{v}-{v}-" + sysconfig.get_platform().replace("-", "_").replace(".", "_"))')
wheel_name=mmcv-$mmcv_version-$tag.whl
cache_dir=$wheel_cache/torch-$torch_version   # a wheel only works with the torch it was built for

mmcv_works() {
    "$py" - "$mmcv_version" <<'EOF'
import sys
import torch
import mmcv
from mmcv.ops import nms
assert mmcv.__version__ == sys.argv[1], mmcv.__version__
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
_, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
assert keep.tolist() == [0, 2], keep
EOF
}

install_mmcv_wheel() {
    if pip show -q mmcv >/dev/null 2>&1; then pip uninstall -q -y mmcv; fi
    # with its dependencies (mmengine, opencv, ...): the check imports them
    pip_install "$1" && mmcv_works
}

build_mmcv_wheel() {
    log "building mmcv $mmcv_version from source with its CPU ops: about 10 min on 2 cores;"
    log "  done once per machine: the wheel is kept in $cache_dir"
    build_dir=$(mktemp -d)
    ( while sleep 60; do log "  still compiling mmcv ..."; done ) &
    heartbeat=$!
    trap 'kill "$heartbeat" 2>/dev/null; rm -rf "$build_dir"' EXIT
    # CFLAGS replaces Python's default flags: -O3 kept, debug info dropped (default: 58 min, 32 MB).
    # --no-cache-dir: pip's cache would hand back a wheel built against another torch.
    CFLAGS='-DNDEBUG -fwrapv -O3 -Wall -g0' MMCV_WITH_OPS=1 FORCE_CUDA=0 \
        MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        pip wheel -q --no-deps --no-build-isolation --no-cache-dir \
        -c "$constraints" "mmcv==$mmcv_version" -w "$build_dir"
    kill "$heartbeat"
    mkdir -p "$cache_dir"
    mv "$build_dir/$wheel_name" "$cache_dir/"
}

if mmcv_works 2>/dev/null; then
    log "mmcv $mmcv_version with compiled ops already works"
else
    if [ ! -f "$cache_dir/$wheel_name" ] && [ -f "$shared_wheels/$wheel_name" ] \
            && [ "$torch_version" = "$shared_wheel_torch" ]; then
        log "copying the prebuilt $wheel_name from $shared_wheels to $cache_dir"
        mkdir -p "$cache_dir"
        cp "$shared_wheels/$wheel_name" "$cache_dir/"
    fi
    if [ -f "$cache_dir/$wheel_name" ]; then
        log "installing mmcv from $cache_dir/$wheel_name"
        if ! install_mmcv_wheel "$cache_dir/$wheel_name"; then
            log "that wheel does not work with this environment: removing it, building anew"
            rm -f "$cache_dir/$wheel_name"
        fi
    fi
    if [ ! -f "$cache_dir/$wheel_name" ]; then
        build_mmcv_wheel
        install_mmcv_wheel "$cache_dir/$wheel_name" || die "the freshly built mmcv does not work"
    fi
    log "mmcv $mmcv_version installed; nms runs"
fi

# ---- 4. the rest of the requirements, then mmmamba itself
log "installing requirements/runtime.txt, tests.txt and deploy.txt (first time: about 1 min)"
pip_install -r requirements/runtime.txt -r requirements/tests.txt -r requirements/deploy.txt
log "installing mmmamba (editable), with the cuda_host test build of the CUDA kernels"
MMMAMBA_BUILD_CUDA_HOST=1 pip_install --no-build-isolation --no-deps -e .
log "checking dependencies (pip check)"
pip check >&2 || die "pip check found broken dependencies"

# ---- 5. the stack imports; remember that for the next run
log "checking imports"
import_check || die "the environment does not import (see above)"
inputs_hash > "$stamp"
log "environment $venv is ready"
