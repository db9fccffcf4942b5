#!/usr/bin/env bash
# Set up the environment (tools/setup_env.sh), then run A2Mamba on a photograph.
#
#   bash tools/quickstart.sh [demo arguments]      e.g. --arch small --size 640
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${MMMAMBA_VENV:-$repo/.venv}

bash "$repo/tools/setup_env.sh"
echo "[quickstart] python tools/demo_backbone.py $*" >&2
exec "$venv/bin/python" "$repo/tools/demo_backbone.py" "$@"
