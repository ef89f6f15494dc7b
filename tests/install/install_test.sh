#!/usr/bin/env bash
# The installed client library works for another program: `meson install` into a temporary
# root, then build examples/kv_hello.cc and config_watch.cc (copied out of the source tree, so nothing of the
# repository is on its include path) with `pkg-config --cflags --libs conclave` against that
# installed copy alone, and run it against a dev agent.
#   tests/install/install_test.sh BUILD_DIR SOURCE_DIR CONCLAVE_BINARY
set -euo pipefail
build=$1 source=$2 conclave=$3
work=$(mktemp -d)
agent_pid=
cleanup() {
  if [[ -n $agent_pid ]]; then kill "$agent_pid" 2>/dev/null || true; wait "$agent_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

DESTDIR="$work/root" meson install -C "$build" --no-rebuild --quiet
pc=$(find "$work/root" -name conclave.pc)
[[ -n $pc ]] || { echo "FAIL: meson install wrote no conclave.pc"; exit 1; }
export PKG_CONFIG_SYSROOT_DIR="$work/root" PKG_CONFIG_PATH=$(dirname "$pc")
flags=$(pkg-config --cflags --libs conclave)
echo "pkg-config --cflags --libs conclave: $flags"
if [[ $flags == *"$source"* || $flags == *"$build"* ]]; then
  echo "FAIL: the flags point into the source or build tree"; exit 1
fi
mkdir "$work/program"
cp "$source/examples/kv_hello.cc" "$source/examples/config_watch.cc" "$work/program/"
(cd "$work/program" && c++ -std=c++20 kv_hello.cc $flags -o kv_hello)
# The watch stream's header (client/kv_watch.h) is installed too: the config-reload example
# builds against the installed copy (tests/examples runs the in-tree build of it).
(cd "$work/program" && c++ -std=c++20 config_watch.cc $flags -o config_watch)

# A dev agent on free ports of its own (the kernel picks them: bind to port 0 is not an
# agent option, so try a few random ones).
mkdir "$work/agent"
for attempt in 1 2 3 4 5; do
  base=$((20000 + RANDOM % 20000))
  (cd "$work/agent" && exec "$conclave" agent -dev -gossip-port "$base" -server-port "$((base + 1))" \
     >"$work/agent.log" 2>&1) &
  agent_pid=$!
  socket="$work/agent/conclave-data/agent.sock"
  for _ in $(seq 50); do [[ -S $socket ]] && break; sleep 0.1; done
  if kill -0 "$agent_pid" 2>/dev/null && [[ -S $socket ]]; then break; fi
  wait "$agent_pid" 2>/dev/null || true
  agent_pid=
done
[[ -n $agent_pid ]] || { echo "FAIL: no dev agent started"; cat "$work/agent.log"; exit 1; }

for _ in $(seq 50); do
  if out=$("$work/program/kv_hello" "$socket" greeting installed 2>&1); then break; fi
  sleep 0.1
done
echo "kv_hello: $out"
[[ $out == "greeting = installed (create_revision "* ]] || { echo "FAIL"; cat "$work/agent.log"; exit 1; }
echo "PASS"
