#!/usr/bin/env bash
# A whole cluster on this machine: 3 servers and 2 client agents on loopback, in a temporary
# folder, then a tour: the members, a config value written on one agent and read on another,
# and a lock. Everything is stopped and removed at the end (or on Ctrl-C).
#   examples/local-cluster.sh [BASE_PORT]       (default 18300; uses BASE_PORT..BASE_PORT+41)
set -euo pipefail
conclave=${CONCLAVE:-$(cd "$(dirname "$0")/.." && pwd)/build/agent/conclave}
base=${1:-18300}
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

start() {  # NAME INDEX [agent flags...]
  local name=$1 index=$2; shift 2
  local gossip=$((base + index * 10 + 1)) server=$((base + index * 10))
  "$conclave" agent -node "$name" -data-dir "$name" -gossip-port "$gossip" \
    -server-port "$server" -socket "$name.sock" "$@" >"$name.log" 2>&1 &
  pids+=($!)
}
seed=127.0.0.1:$((base + 1))
start s1 0 -server -bootstrap-expect 3
start s2 1 -server -bootstrap-expect 3 -join "$seed"
start s3 2 -server -bootstrap-expect 3 -join "$seed"
start c1 3 -join "$seed" -tag role=web
start c2 4 -join "$seed" -tag role=worker

echo "== waiting for a leader"
for _ in $(seq 100); do
  "$conclave" kv put cluster/ready yes --socket c1.sock >/dev/null 2>&1 && break
  sleep 0.2
done
echo "== members (as c2 sees them)"
for _ in $(seq 50); do
  [[ $("$conclave" members --socket c2.sock | grep -c alive) -eq 5 ]] && break
  sleep 0.2
done
"$conclave" members --socket c2.sock
echo "== config: written through c1, read through s3 (linearizable)"
"$conclave" kv put config/greeting "hello from c1" --socket c1.sock
"$conclave" kv get config/greeting --socket s3.sock
echo "== a lock: c1 runs a command under it, c2 finds it taken"
"$conclave" lock demo/lock --socket c1.sock -- sleep 2 &
sleep 0.5
if "$conclave" lock demo/lock -try --socket c2.sock -- true; then
  echo "c2 got the lock (unexpected)"; exit 1
else
  echo "c2: demo/lock is held by c1 (exit $?)"
fi
wait $!
echo "== done"
