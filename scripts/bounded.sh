#!/usr/bin/env bash
# Bounded resources (issue 6): starts three server agents on loopback like scripts/bench.sh,
# puts PUTS values of VALUE_SIZE bytes over KEYS keys through them (`conclave bench put`), then
# reports each server's resident memory (VmRSS now, VmHWM peak) and data folder size against
# the live data (KEYS x (key + value bytes)). Usage: scripts/bounded.sh [PUTS] [KEYS] [VALUE_SIZE]
# (default 1000000 10000 256). Ends with one summary line.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
puts="${1:-1000000}"
keys="${2:-10000}"
value_size="${3:-256}"
base_port=18400
# shellcheck source=lib/three_servers.sh
source "$root/scripts/lib/three_servers.sh"
"$c" bench put -clients 256 -ops "$puts" -keys "$keys" -value-size "$value_size" \
  --socket s1.sock --socket s2.sock --socket s3.sock -format json 2>/dev/null | tail -1
sleep 2  # let followers apply and compact
# Live data: every key once, with its value (the bench's keys are "bench/<n>").
key_bytes=0
for n in $(seq 0 $((keys - 1))); do key_bytes=$((key_bytes + ${#n} + 6)); done
live=$((key_bytes + keys * value_size))
worst_rss=0
worst_ratio=0
for i in 1 2 3; do
  pid="${pids[$((i - 1))]}"
  rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  hwm_kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  folder=$(du -sb "s$i" | awk '{print $1}')
  start=$("$c" status --socket "s$i.sock" -format json | awk -F': ' '/"raft_log_start"/ {gsub(",", "", $2); print $2}')
  ratio=$(awk -v f="$folder" -v l="$live" 'BEGIN {printf "%.2f", f / l}')
  ls -l "s$i" | awk 'NR > 1 {printf "    %s %s\n", $9, $5}'
  echo "s$i: rss $((rss_kb / 1024)) MB (peak $((hwm_kb / 1024)) MB), data folder $folder bytes = ${ratio}x live data, log start $start"
  [ "$rss_kb" -gt "$worst_rss" ] && worst_rss=$rss_kb
  worst_ratio=$(awk -v a="$ratio" -v b="$worst_ratio" 'BEGIN {print (a > b) ? a : b}')
done
echo "bounded: $puts puts over $keys keys of $value_size bytes (live data $live bytes): worst RSS $((worst_rss / 1024)) MB, worst data folder ${worst_ratio}x live data"
