#!/usr/bin/env bash
# Build the CUDA kernels (csrc/**/*.cu) for the host emulation with
# ThreadSanitizer and run every launcher on small problems
# (csrc/cuda_host/tsan_driver.cpp). Exits non-zero on a data race.
#
#   bash tools/cuda_host_tsan.sh [--racy]   (--racy: only a kernel with a race
#                                            on purpose: the check must fail)
# Needs g++ with libtsan (Debian: libtsan2); about a minute on 2 cores.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${MMMAMBA_TSAN_BUILD:-$repo/build/cuda_host_tsan}
mkdir -p "$out"
flags=(-std=c++17 -O1 -g -fsanitize=thread -pthread -DMMMAMBA_CUDA_HOST
       -Wno-unknown-pragmas)
objects=() pids=()
# rebuild unless the driver is newer than every kernel source and header
if [ -x "$out/tsan_driver" ] &&
        [ -z "$(find "$repo/csrc" -newer "$out/tsan_driver" | head -1)" ]; then
    exec env TSAN_OPTIONS="halt_on_error=1 ${TSAN_OPTIONS:-}" "$out/tsan_driver" "$@"
fi
for src in "$repo"/csrc/*/*.cu "$repo"/csrc/cuda_host/tsan_driver.cpp; do
    # <op folder>_<file>.o: every op has a cuda.cu
    obj=$out/$(basename "$(dirname "$src")")_$(basename "${src%.*}").o
    g++ "${flags[@]}" -x c++ -c "$src" -o "$obj" &
    objects+=("$obj") pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done  # a failed compile stops here
g++ "${flags[@]}" "${objects[@]}" -o "$out/tsan_driver"
# halt_on_error: the first race fails the run with TSan's exit code (66)
TSAN_OPTIONS="halt_on_error=1 ${TSAN_OPTIONS:-}" "$out/tsan_driver" "$@"
