#!/usr/bin/env bash
# The second README command: install dependencies, build, and run the whole test suite
# (unit, scenario, simulation and process tests). Extra arguments go to `meson test`.
# Ends with one summary line, "N passed, N failed", counted from meson's JSON test log.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
log=build/meson-logs/testlog.json
rm -f "$log"  # so that a run that executes nothing cannot report an older run's results
status=0
meson test -C build --print-errorlogs "$@" || status=$?
passed=0
failed=0
if [ -f "$log" ]; then
  passed=$(grep -o '"result": "OK"' "$log" | wc -l || true)
  failed=$(grep -o '"result": "[A-Z]*"' "$log" | grep -vc '"OK"' || true)
fi
echo "${passed} passed, ${failed} failed"
exit "$status"
