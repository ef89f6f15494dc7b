#!/usr/bin/env bash
# Runs the example scripts as a user would, against real agents, and checks what they print.
#   tests/examples/examples_test.sh SOURCE_DIR CONCLAVE_BINARY CONFIG_WATCH_BINARY
set -euo pipefail
source_dir=$1
export CONCLAVE=$2
config_watch=$3
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
port() { echo $((20000 + RANDOM % 30000)); }

echo "== examples/local-cluster.sh"
out=$("$source_dir/examples/local-cluster.sh" "$(port)" 2>&1) || fail "local-cluster.sh exited $?: $out"
echo "$out" | tail -5
[[ $out == *"hello from c1"* ]] || fail "the config value did not come back"
[[ $out == *"held by c1 (exit 124)"* ]] || fail "c2 did not find the lock held"
[[ $(grep -c ' alive ' <<<"$out") -eq 5 ]] || fail "not 5 members alive"

echo "== examples/lock-cron.sh on a dev agent"
mkdir "$work/dev"
p=$(port)
(cd "$work/dev" && exec "$CONCLAVE" agent -dev -gossip-port "$p" -server-port $((p + 1)) >agent.log 2>&1) &
pids+=($!)
socket=$work/dev/conclave-data/agent.sock
for _ in $(seq 50); do "$CONCLAVE" kv put ready yes --socket "$socket" >/dev/null 2>&1 && break; sleep 0.1; done
out=$("$source_dir/examples/lock-cron.sh" --socket "$socket" 2>&1) || fail "lock-cron.sh exited $?: $out"
echo "$out"
[[ $out == *"running the job with fencing token "* ]] || fail "the job did not run"
"$CONCLAVE" kv get jobs/nightly-report/last-run --socket "$socket" >/dev/null || fail "no fenced write"

echo "== examples/config_watch.cc: the current config, then each change within 100 ms"
"$CONCLAVE" kv put app/config/color blue --socket "$socket" 2>/dev/null
"$config_watch" app/config/ "$socket" >"$work/config.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "^watching" "$work/config.out" && break; sleep 0.02; done
grep -q "^applied app/config/color=blue" "$work/config.out" || fail "no initial config: $(cat "$work/config.out")"
worst=0
for value in green red yellow; do
  "$CONCLAVE" kv put app/config/color "$value" --socket "$socket" 2>/dev/null
  put_done=$(date +%s%N)
  until grep -q "^applied app/config/color=$value" "$work/config.out"; do
    (( ($(date +%s%N) - put_done) / 1000000 < 2000 )) || fail "the change to $value never came"
    sleep 0.002
  done
  took_ms=$(( ($(date +%s%N) - put_done) / 1000000 ))
  echo "config_watch applied $value ${took_ms} ms after the put returned"
  (( took_ms > worst )) && worst=$took_ms
done
(( worst <= 100 )) || fail "config_watch took ${worst} ms (more than 100)"
"$CONCLAVE" kv del app/config/color --socket "$socket" 2>/dev/null
for _ in $(seq 100); do grep -q "^removed app/config/color" "$work/config.out" && break; sleep 0.01; done
grep -q "^removed app/config/color" "$work/config.out" || fail "the delete never came"

echo "== examples/on-peer-failure.sh"
p=$(port); q=$(port)
mkdir "$work/a" "$work/b"
(cd "$work/a" && exec "$CONCLAVE" agent -node watcher -data-dir a -gossip-port "$p" -server-port $((p + 1)) -socket a.sock >a.log 2>&1) &
pids+=($!)
(cd "$work/b" && exec "$CONCLAVE" agent -node doomed -data-dir b -gossip-port "$q" -server-port $((q + 1)) -socket b.sock -join "127.0.0.1:$p" >b.log 2>&1) &
doomed=$!
pids+=($doomed)
for _ in $(seq 50); do
  [[ $("$CONCLAVE" members --socket "$work/a/a.sock" 2>/dev/null | grep -c alive) -eq 2 ]] && break
  sleep 0.1
done
"$source_dir/examples/on-peer-failure.sh" --socket "$work/a/a.sock" >"$work/hook.out" 2>&1 &
pids+=($!)
sleep 0.5
kill -9 "$doomed"
for _ in $(seq 50); do grep -q "peer failed: doomed" "$work/hook.out" && break; sleep 0.1; done
cat "$work/hook.out"
grep -q "peer failed: doomed" "$work/hook.out" || fail "the hook did not see the failure"
echo "PASS"
