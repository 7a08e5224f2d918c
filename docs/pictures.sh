#!/usr/bin/env bash
# The pictures in docs/ from one pipeline run (the run docs/results.md was written from), by headless
# Chromium at a 1280 px window: report.html, the features page and the attributions page.
#   bash docs/pictures.sh RUN
set -euo pipefail
run=${1:?usage: bash docs/pictures.sh RUN (a pipeline run dir)}
cd "$(dirname "$0")"
chromium=$(command -v chromium || command -v chromium-browser || command -v google-chrome) || {
  echo "docs/pictures.sh: no headless Chromium on this machine (chromium, chromium-browser, google-chrome)" >&2; exit 2; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
shoot() {  # page, picture, height
  [ -f "$1" ] || { echo "docs/pictures.sh: $1 is missing: is $run a pipeline run dir?" >&2; exit 2; }
  "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
    --window-size=1280,"$3" --screenshot="$PWD/$2" "file://$(realpath "$1")" 2>/dev/null
  echo "docs/$2 <- $1"
}
shoot "$run/report.html" report.png 1400
shoot "$run/features/features.html" features.png 1200
shoot "$run/steer/attributions.html" attributions.png 1200
