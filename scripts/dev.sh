#!/usr/bin/env bash
# The first README command: install dependencies, build, and start a single dev agent in the
# foreground (a one-server cluster; data and socket in ./conclave-data of the current folder).
# Extra arguments go to `conclave agent`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/build.sh"
exec "$root/build/agent/conclave" agent -dev "$@"
