#!/usr/bin/env bash
# Set up the environment (tools/setup_env.sh), then run the whole test suite in it.
#
#   bash tools/run_tests.sh [pytest arguments]     e.g. -x -k a2mamba
#
# Exits with pytest's status: non-zero when a test fails (or none is collected).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${MMMAMBA_VENV:-$repo/.venv}

bash "$repo/tools/setup_env.sh"
cd "$repo"
echo "[run_tests] python -m pytest tests -q $*" >&2
exec "$venv/bin/python" -m pytest tests -q "$@"
