# Sourced by scripts/bench.sh and scripts/bounded.sh: builds conclave, then starts three server
# agents on loopback in a fresh temporary folder (the current directory from then on), each with
# ports BASE+10*i (server) and BASE+10*i+1 (gossip) and socket s<i>.sock, waits until a write
# succeeds, and stops them and removes the folder on exit.
# Needs: root (the repository), base_port. Sets: c (the binary), work, pids.
"$root/scripts/build.sh" >/dev/null
c="$root/build/agent/conclave"
work="$(mktemp -d /tmp/conclave-servers-XXXXXX)"
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
  for j in 1 2 3; do
    [ "$j" != "$i" ] && joins+=(-join "127.0.0.1:$((base_port + 10 * j + 1))")
  done
  "$c" agent -server -bootstrap-expect 3 -node "s$i" -data-dir "s$i" \
    -gossip-port $((base_port + 10 * i + 1)) -server-port $((base_port + 10 * i)) \
    -socket "s$i.sock" "${joins[@]}" >"s$i.log" 2>&1 &
  pids+=($!)
done
for _ in $(seq 1 100); do
  "$c" kv put bench/ready yes --socket s1.sock >/dev/null 2>&1 && break
  sleep 0.1
done
