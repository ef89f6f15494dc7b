#!/usr/bin/env bash
# The second README command: install dependencies, build, and run the whole test suite
# (unit, scenario, simulation and process tests), then four stages:
#   - every fuzz target under ASan+UBSan on its seeds and regression inputs and for 15 s
#     (scripts/fuzz.sh);
#   - the pure modules' unit tests under ASan+UBSan (scripts/sanitize.sh: raft, wire, crypto,
#     check, state_machine, store, client; the agent, gossip and simulation tests are left out
#     for time, `scripts/sanitize.sh --all` runs them);
#   - the nemesis's short profile (scripts/nemesis.sh -duration 90: faults on real agents, the
#     register, lock and set histories checked);
#   - the nemesis with its planted bug (stale reads), which must be caught.
# Extra arguments go to `meson test` (and skip the stages). Ends with one summary line,
# "N passed, N failed": meson's tests, counted from its JSON log, plus one per stage.
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
# The nemesis must report the planted bug as a linearizability violation (and nothing else
# counts: a run that failed for another reason is not a catch).
planted_bug_caught() {
  local output
  if output=$(scripts/nemesis.sh -duration 20 -planted-bug stale-reads); then
    echo "$output" | tail -n 1
    echo "the planted stale-reads bug was NOT caught"
    return 1
  fi
  echo "$output" | tail -n 1
  echo "$output" | tail -n 1 | grep -q "NOT linearizable"
}
if [ $# -eq 0 ]; then
  for stage in "scripts/fuzz.sh ${CONCLAVE_CI_FUZZ_SECONDS:-15}" scripts/sanitize.sh \
               "scripts/nemesis.sh -duration ${CONCLAVE_CI_NEMESIS_SECONDS:-90}" \
               planted_bug_caught; do
    echo "== $stage"
    if $stage; then passed=$((passed + 1)); else failed=$((failed + 1)); status=1; fi
  done
fi
echo "${passed} passed, ${failed} failed"
exit "$status"
