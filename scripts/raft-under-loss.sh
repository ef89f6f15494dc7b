#!/usr/bin/env bash
# How often the servers elect a new leader under random packet loss: starts 3 servers as real
# processes on 127.0.0.221-223, lets them elect a leader, drops LOSS of every packet each of
# them sends (iptables statistic on loopback, so it needs root) for SECONDS, and prints the
# Raft term before and after and the elections per minute. With -load, 8 clients put values
# through all three servers meanwhile (`conclave bench put`). A measurement, not a test: it
# always exits 0 when it could measure.
#
#   scripts/raft-under-loss.sh [-loss 0.1] [-seconds 60] [-load] [-binary build/agent/conclave]
set -euo pipefail
cd "$(dirname "$0")/.."

loss=0.1
seconds=60
binary=build/agent/conclave
load=0
while [ $# -gt 0 ]; do
  case "$1" in
    -loss) loss="${2:?-loss needs a probability}"; shift 2 ;;
    -seconds) seconds="${2:?-seconds needs a number}"; shift 2 ;;
    -load) load=1; shift ;;
    -binary) binary="${2:?-binary needs a path}"; shift 2 ;;
    -h|-help|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "raft-under-loss: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ "$loss" =~ ^0?\.[0-9]+$ ]] || { echo "raft-under-loss: -loss takes a probability below 1, not '$loss'" >&2; exit 2; }
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "raft-under-loss: -seconds takes whole seconds, not '$seconds'" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "raft-under-loss: needs root (iptables)" >&2; exit 2; }
[ -x "$binary" ] || { echo "raft-under-loss: no agent binary at $binary (scripts/build.sh)" >&2; exit 2; }

work=$(mktemp -d)
chain="CONCLAVE_LOSS_$$"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  iptables -w -D INPUT -j "$chain" 2>/dev/null || true
  iptables -w -F "$chain" 2>/dev/null || true
  iptables -w -X "$chain" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

hosts=(127.0.0.221 127.0.0.222 127.0.0.223)
gossip_port=47901
server_port=47911
for i in 0 1 2; do
  joins=()
  for j in 0 1 2; do
    [ "$i" -eq "$j" ] || joins+=(-join "${hosts[$j]}:$gossip_port")
  done
  mkdir -p "$work/s$i"
  "$binary" agent -server -bootstrap-expect 3 -node "s$i" -data-dir "$work/s$i" \
    -bind "${hosts[$i]}" -gossip-port "$gossip_port" -server-port "$server_port" \
    -socket "$work/s$i.sock" "${joins[@]}" >"$work/s$i.log" 2>&1 &
  pids+=($!)
  disown  # killed at the end: no job-control notice
done

term_of() {  # the highest term any server reports
  local best=0 t
  for i in 0 1 2; do
    t=$("$binary" status --socket "$work/s$i.sock" --timeout 2000 2>/dev/null |
        awk '/^term:/ {print $2}') || true
    [ -n "$t" ] && [ "$t" -gt "$best" ] && best=$t
  done
  echo "$best"
}
leader_known() {
  "$binary" status --socket "$work/s0.sock" --timeout 2000 2>/dev/null | grep -q '^leader: *s'
}
for _ in $(seq 1 100); do leader_known && break; sleep 0.2; done
leader_known || { echo "raft-under-loss: no leader within 20 s; logs in $work" >&2; exit 1; }

iptables -w -N "$chain"
iptables -w -I INPUT -j "$chain"
for host in "${hosts[@]}"; do
  iptables -w -A "$chain" -s "$host" -m statistic --mode random --probability "$loss" -j DROP
done
before=$(term_of)
if [ "$load" -eq 1 ]; then
  end=$((SECONDS + seconds))
  puts=0
  while [ "$SECONDS" -lt "$end" ]; do
    done_now=$(timeout $((end - SECONDS + 1)) "$binary" bench put --clients 8 --ops 5000 \
      --socket "$work/s0.sock" --socket "$work/s1.sock" --socket "$work/s2.sock" 2>&1 |
      sed -n 's|^bench put: \([0-9]*\)/.*|\1|p' | tail -n 1) || true  # its last progress line
    puts=$((puts + ${done_now:-0}))
  done
else
  sleep "$seconds"
fi
after=$(term_of)
iptables -w -F "$chain"
elections=$((after - before))
echo "raft-under-loss: loss $loss for $seconds s: term $before -> $after," \
  "$(awk -v e="$elections" -v s="$seconds" 'BEGIN {printf "%.1f", e * 60 / s}') elections/min" \
  "$([ "$load" -eq 1 ] && echo "under load: at least $puts puts completed" || echo "(no load)")"
