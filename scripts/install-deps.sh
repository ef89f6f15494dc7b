#!/usr/bin/env bash
# Installs conclave's build and test dependencies from Debian 12's archive. Idempotent: when
# every package is already installed it does nothing (no network).
set -euo pipefail

packages=(
  g++ meson ninja-build pkg-config
  libuv1-dev libflatbuffers-dev flatbuffers-compiler libsqlite3-dev
  libtomlplusplus-dev libspdlog-dev catch2 libcli11-dev nlohmann-json3-dev
  libsodium-dev  # gossip and agent-to-agent encryption (crypto/)
  iptables  # the partition process test cuts loopback addresses with it
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
