#!/usr/bin/env bash
# Starts three server agents on loopback (SQLite with synchronous=FULL: every batch fsynced),
# in a fresh temporary folder, and runs `conclave bench` against them. With no arguments it runs
# the matrix recorded in docs/performance.md; otherwise the arguments are one bench command,
# e.g. `scripts/bench.sh put -clients 64 -ops 20000`. The agents are stopped at the end.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/build.sh" >/dev/null
c="$root/build/agent/conclave"
work="$(mktemp -d /tmp/conclave-bench-XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
for i in 1 2 3; do
  joins=()
  for j in 1 2 3; do [ "$j" != "$i" ] && joins+=(-join "127.0.0.1:$((18300 + 10 * j + 1))"); done
  "$c" agent -server -bootstrap-expect 3 -node "s$i" -data-dir "s$i" \
    -gossip-port $((18300 + 10 * i + 1)) -server-port $((18300 + 10 * i)) \
    -socket "s$i.sock" "${joins[@]}" >"s$i.log" 2>&1 &
  pids+=($!)
done
for _ in $(seq 1 100); do
  "$c" kv put bench/ready yes --socket s1.sock >/dev/null 2>&1 && break
  sleep 0.1
done
sockets=(--socket s1.sock --socket s2.sock --socket s3.sock)
run() {
  echo "== conclave bench $* ${sockets[*]}" >&2
  "$c" bench "$@" "${sockets[@]}" -format json 2>/dev/null | tail -1
}
if [ $# -gt 0 ]; then
  run "$@"
  exit 0
fi
run put -clients 1 -ops 2000
run put -clients 256 -ops 50000
run get -clients 64 -ops 100000
run lock -clients 16 -ops 20000
run lock-contended -clients 8 -ops 10000
