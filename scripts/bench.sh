#!/usr/bin/env bash
# Starts three server agents on loopback (SQLite with synchronous=FULL: every batch fsynced),
# in a fresh temporary folder, and runs `conclave bench` against them. With no arguments it runs
# the matrix recorded in docs/performance.md; otherwise the arguments are one bench command,
# e.g. `scripts/bench.sh put -clients 64 -ops 20000`. The agents are stopped at the end.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
base_port=18300
# shellcheck source=lib/three_servers.sh
source "$root/scripts/lib/three_servers.sh"
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
