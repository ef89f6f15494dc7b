#!/usr/bin/env bash
# Reacts to peers failing: follows `conclave members -watch` and runs a hook for each member
# that fails (here it prints a line; replace it with a page, a failover, a drain...). The
# watch starts with the members as they are (`member` lines), so nothing that happens between
# starting the script and the first event is missed.
#   examples/on-peer-failure.sh [--socket PATH]
set -euo pipefail
conclave=${CONCLAVE:-conclave}
"$conclave" members -watch "$@" | while read -r type name address status role tags; do
  case $type in
    failed) echo "peer failed: $name ($address, $role)" ;;
    left)   echo "peer left: $name" ;;
    joined) echo "peer joined: $name ($address)" ;;
  esac
done
