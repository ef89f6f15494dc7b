#!/usr/bin/env bash
# The second README command: install dependencies, build, and run the whole test suite
# (unit, scenario, simulation and process tests), then every fuzz target under ASan+UBSan on
# its seeds and regression inputs and for 15 s (scripts/fuzz.sh). Extra arguments go to
# `meson test` (and skip the fuzz stage). The unit tests under sanitizers
# (scripts/sanitize.sh) are not part of it: they take over 20 minutes to build on 2 cores.
# Ends with one summary line, "N passed, N failed": meson's tests, counted from its JSON log,
# plus one for the fuzz stage.
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
if [ $# -eq 0 ]; then
  for stage in "scripts/fuzz.sh ${CONCLAVE_CI_FUZZ_SECONDS:-15}"; do
    echo "== $stage"
    if $stage; then passed=$((passed + 1)); else failed=$((failed + 1)); status=1; fi
  done
fi
echo "${passed} passed, ${failed} failed"
exit "$status"
