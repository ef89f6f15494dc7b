#!/usr/bin/env bash
# The nemesis (docs/reliability.md): starts 3 servers and 2 client agents as real processes on
# 127.0.0.201-205, runs the register, lock and set workloads through the client library while
# injecting faults drawn from a seed (partitions, a bridge, a one-way cut, packet loss,
# kill -9 and restart, SIGSTOP/SIGCONT, a server joining and leaving), then heals, checks every
# history and ends with one summary line. Exits 0 only when no violation was found. Needs root
# (iptables on loopback). The agents' logs of a failed run are kept in nemesis-logs/.
#
#   scripts/nemesis.sh                       120 s of faults, a random seed (printed)
#   scripts/nemesis.sh -duration 3600        the long soak
#   scripts/nemesis.sh -seed 1234            replays a schedule
#   scripts/nemesis.sh -kinds pause,kill_restart
#   scripts/nemesis.sh -planted-bug stale-reads   servers answer gets from their own state:
#                                                 the run must FAIL
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}
duration=120
seed=""
kinds=""
planted=""
while [ $# -gt 0 ]; do
  case "$1" in
    -duration|--duration) duration="${2:?-duration needs seconds}"; shift 2 ;;
    -seed|--seed) seed="${2:?-seed needs a number}"; shift 2 ;;
    -kinds|--kinds) kinds="${2:?-kinds needs a list}"; shift 2 ;;
    -planted-bug|--planted-bug) planted="${2:?-planted-bug needs a name (stale-reads)}"; shift 2 ;;
    -h|-help|--help) usage 0 ;;
    *) echo "nemesis: unknown argument '$1'" >&2; usage 2 >&2 ;;
  esac
done
fail_usage() { echo "nemesis: $1" >&2; exit 2; }
[[ "$duration" =~ ^[0-9]+$ ]] || fail_usage "-duration takes whole seconds, not '$duration'"
[[ -z "$seed" || "$seed" =~ ^[0-9]+$ ]] || fail_usage "-seed takes a number, not '$seed'"
[[ -z "$planted" || "$planted" == stale-reads ]] ||
  { echo "nemesis: the only planted bug is stale-reads, not '$planted'" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "nemesis: needs root (iptables rules on loopback)" >&2; exit 2; }

scripts/build.sh >/dev/null
summary=$(mktemp)
trap 'rm -f "$summary" "$summary.out"' EXIT
# The run's lines as they come (progress, violations); the summary line last. Ctrl-C reaches
# the run itself, which heals, checks what it has, removes its firewall rules and stops its
# agents; this script ignores it and waits for that.
trap '' INT
CONCLAVE_BINARY="$PWD/build/agent/conclave" \
CONCLAVE_NEMESIS_DURATION_S="$duration" CONCLAVE_NEMESIS_SEED="$seed" \
CONCLAVE_NEMESIS_KINDS="$kinds" CONCLAVE_NEMESIS_PLANTED_BUG="$planted" \
CONCLAVE_NEMESIS_SUMMARY="$summary" CONCLAVE_NEMESIS_LOG_DIR="$PWD/nemesis-logs" \
  build/tests/nemesis/nemesis_tests >"$summary.out" 2>&1 &
runner=$!
tail -n +1 -f --pid="$runner" "$summary.out" |
  grep --line-buffered '^nemesis' | grep --line-buffered -v '^nemesis: \(PASS\|FAIL\) ' || true
status=0
wait "$runner" || status=$?
if [ -s "$summary" ]; then
  rm -f "$summary.out"
  cat "$summary"
else
  # The run stopped before its checks (the cluster did not form, an assertion): say why.
  tail -n 40 "$summary.out"
  rm -f "$summary.out"
  echo "nemesis: FAIL seed=${seed:-?} the run ended without checking the histories (exit $status)"
  [ "$status" -ne 0 ] || status=1
fi
exit "$status"
