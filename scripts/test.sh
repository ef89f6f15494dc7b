#!/usr/bin/env bash
# The second README command: install dependencies, build, and run the whole test suite
# (unit, scenario, simulation and process tests). Extra arguments go to `meson test`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
meson test -C build --print-errorlogs "$@"
