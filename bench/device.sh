#!/usr/bin/env bash
# The GPU check, one command on a GPU machine (sized for 8 minutes; not yet run on one): Qwen2.5-0.5B's
# shape at bf16 -- harvest vs full forward, SAE training (Lightning vs bare loop vs SAELens),
# service p50 with feature patching -- ending in one JSON line. `--tiny` runs it anywhere in seconds.
#   bash bench/device.sh [--tiny] [--device cpu|cuda]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
exec "$PY" bench/device.py "$@"
