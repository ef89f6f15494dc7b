#!/usr/bin/env bash
# Unit tests under AddressSanitizer (with leak checking) and UndefinedBehaviorSanitizer, built
# in build-asan/. CI runs the default set (scripts/test.sh): about 9 minutes to build on two
# cores from scratch, seconds to run (Catch2's runner is left uninstrumented: instrumenting it
# took minutes and checks none of our code). CI also runs the sanitizers through the fuzz
# targets (scripts/fuzz.sh). Left out of CI for time: --all's agent, gossip and simulation
# tests.
#
#   scripts/sanitize.sh          # the pure modules' unit tests
#   scripts/sanitize.sh --all    # also node, gossip and a slice of the simulation (slower)
#
# Default set: raft, wire, crypto, check, state_machine, store and client unit tests, in full.
# --all adds the agent (node) and gossip unit tests and, from the simulation, one seed twice,
# a calm cluster, more servers than bootstrap_expect and the planted-bug cases. The process
# tests only run unsanitized (real processes, timing-sensitive).
# Any sanitizer report fails the run (halt_on_error).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ ! -f build-asan/build.ninja ]; then
  meson setup build-asan --buildtype=debugoptimized -Db_sanitize=address,undefined \
    -Db_lundef=false >/dev/null
fi
units=(raft/raft_tests wire/wire_tests crypto/crypto_tests check/check_tests
       state_machine/state_machine_tests store/store_tests client/client_tests)
all=false
[[ "${1:-}" == "--all" ]] && all=true
$all && units+=(node/node_tests gossip/gossip_tests)
targets=()
for unit in "${units[@]}"; do targets+=("tests/$unit"); done
$all && targets+=(tests/sim/sim_tests)
ninja -C build-asan "${targets[@]}" >build-asan/build.log 2>&1 ||
  { tail -40 build-asan/build.log; echo "sanitize: build FAILED"; exit 1; }
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
status=0
for unit in "${units[@]}"; do
  started=$(date +%s)
  log="build-asan/$(basename "$unit").log"
  if "build-asan/tests/$unit" >"$log" 2>&1; then
    echo "sanitize: $unit passed ($(( $(date +%s) - started )) s)"
  else
    echo "sanitize: $unit FAILED ($log):"; tail -30 "$log"
    status=1
  fi
done
if $all; then
  started=$(date +%s)
  if build-asan/tests/sim/sim_tests "one seed twice*" "a calm cluster*" "more servers than*" \
       "the checkers catch*" "the linearizability checker catches*" \
       >build-asan/sim_tests.log 2>&1; then
    echo "sanitize: sim (selected cases) passed ($(( $(date +%s) - started )) s)"
  else
    echo "sanitize: sim FAILED (build-asan/sim_tests.log):"; tail -30 build-asan/sim_tests.log
    status=1
  fi
fi
exit "$status"
