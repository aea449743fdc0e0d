#!/usr/bin/env bash
# Set up the environment (idempotent) and run the im2im demo.
# Extra arguments go to `im2im demo`:
#
#   bash scripts/demo.sh
#   bash scripts/demo.sh --help
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"

export QT_API="${QT_API:-pyqt6}"
export MPLBACKEND="${MPLBACKEND:-Agg}"

printf '\n==> [demo] im2im demo %s\n' "$*"
exec "$ROOT/.venv/bin/im2im" demo "$@"
