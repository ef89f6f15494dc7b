#!/usr/bin/env bash
# Reproduces the gossip figures of docs/gossip.md with the gossip-only simulator (virtual
# time, 1 ms one-way latency): detection, join spread and traffic at N = 10, 100 and 1,000,
# then accuracy at N = 100 over one simulated hour (10% loss; a starved member with and
# without Lifeguard). About 13 minutes on 2 cores, most of it N = 1,000.
#   scripts/gossip-figures.sh [--seed N]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
sim=build/sim/conclave-gossip-sim
"$sim" --members 10,100,1000 --crashes 20 --steady-s 300 "$@"
echo
"$sim" --accuracy --members 100 --loss 0.1 --duration-s 3600 "$@"
echo
"$sim" --accuracy --members 100 --max-delay-ms 2000 --duration-s 3600 "$@"
"$sim" --accuracy --members 100 --max-delay-ms 2000 --duration-s 3600 --no-lifeguard "$@" || true
