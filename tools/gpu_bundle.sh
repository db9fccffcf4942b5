#!/usr/bin/env bash
# The wheels tools/gpu_check.sh needs on a machine without network access:
#
#   bash tools/gpu_bundle.sh [--python 3.12] [--out .gpu_bundle]
#
# Writes requirements/gpu_bundle.txt as wheels into <out>/cp<version>/ (git-ignored): what the lent
# GPU image (CPython 3.12, x86-64) lacks. --python 3.11 makes the same bundle for this machine's
# Python, for the rehearsal (tools/gpu_check.sh --cpu). Every wheel comes from PyPI, except mmcv,
# built here from its sdist without its compiled ops (a pure-Python wheel). The folder must stay
# under 40 MiB; a second run with the same requirements and Python does nothing.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=3.12
out=$repo/.gpu_bundle
max_mib=40

log() { printf '[gpu_bundle] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

while [ $# -gt 0 ]; do
    case $1 in
        --python) version=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) die "unknown argument '$1' (use --python X.Y, --out DIR)" ;;
    esac
done
[[ $version =~ ^3\.[0-9]+$ ]] || die "--python wants a version such as 3.12, not '$version'"

requirements=$repo/requirements/gpu_bundle.txt
tag=cp${version/./}
dest=$out/$tag
stamp="$(sha256sum "$requirements" | cut -d' ' -f1) $tag"
if [ "$(cat "$dest/.stamp" 2>/dev/null)" = "$stamp" ]; then
    log "$dest is up to date"
    exit 0
fi

pins=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$requirements" | grep -v '^$')
mmcv=$(grep '^mmcv==' <<<"$pins") || die "requirements/gpu_bundle.txt pins no mmcv"
rm -rf "$dest"
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

log "downloading wheels for CPython $version (x86-64 manylinux) into $dest"
# shellcheck disable=SC2046  # one argument per pin
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$version" \
    --implementation cp --abi "$tag" --abi abi3 --abi none \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform any \
    -d "$dest" $(grep -v '^mmcv==' <<<"$pins")

log "building $mmcv from its sdist without compiled ops (MMCV_WITH_OPS=0)"
# mmcv's setup.py imports pkg_resources, which setuptools 82 removed
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q 'setuptools<82' wheel
"$tmp/venv/bin/pip" download -q --no-deps --no-binary=:all: -d "$tmp" "$mmcv"
MMCV_WITH_OPS=0 "$tmp/venv/bin/pip" wheel -q --no-deps --no-build-isolation --no-cache-dir \
    -w "$dest" "$tmp"/mmcv-*.tar.gz

mib=$(du -sm "$dest" | cut -f1)
[ "$mib" -le "$max_mib" ] || die "$dest holds $mib MiB, more than $max_mib MiB"
echo "$stamp" >"$dest/.stamp"
log "$(find "$dest" -name '*.whl' | wc -l) wheels, $mib MiB, in $dest"
