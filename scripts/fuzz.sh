#!/usr/bin/env bash
# Builds a libFuzzer target for every decoder (gossip packet, peer message, client request and
# response, command, frame reader, config file), for the state machine applying arbitrary
# entries and for opening sealed datagrams and streams, all with ASan and UBSan; runs every
# kept regression input once, then fuzzes each target for the given number of seconds (default
# 60), one after the other. Built directly with clang++ rather than through meson, so that CI
# does not pay for it.
#
#   scripts/fuzz.sh [seconds] [target ...]   all targets, or only those named
#   scripts/fuzz.sh --write-seeds            rewrites tests/fuzz/corpus/ (tests/fuzz/seed_corpus.cc)
#
# Each target starts from its seeds kept in tests/fuzz/corpus/<target>/, copied into its
# working corpus build-fuzz/corpus/<target>/, which keeps growing across runs (FUZZ_BUILD_DIR
# to change build-fuzz/). Every input in tests/fuzz/regressions/<target>/ (one that once
# crashed) is run first. Crashes are written to build-fuzz/crashes/<target>/, the log of each
# run to build-fuzz/<target>.log. Exits non-zero if any target fails.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
all_targets=(gossip_packet_fuzz peer_message_fuzz client_request_fuzz client_response_fuzz
             command_fuzz frame_reader_fuzz config_fuzz state_machine_fuzz sealed_datagram_fuzz)

write_seeds=0
seconds=60
if [[ "${1:-}" == --write-seeds ]]; then
  write_seeds=1
  targets=()
else
  seconds="${1:-60}"
  if [[ ! "$seconds" =~ ^[0-9]+$ ]]; then
    echo "usage: $0 [seconds] [target ...] | --write-seeds" >&2
    exit 2
  fi
  shift $(($# > 0 ? 1 : 0))
  targets=("$@")
  [[ $# -gt 0 ]] || targets=("${all_targets[@]}")
  for target in "${targets[@]}"; do
    [[ " ${all_targets[*]} " == *" $target "* ]] || {
      echo "fuzz: unknown target $target (known: ${all_targets[*]})" >&2; exit 2; }
  done
fi

"$root/scripts/install-deps.sh"
if ! command -v "${CXX_FUZZ:-clang++}" >/dev/null; then
  echo "fuzz: installing clang (libFuzzer)" >&2
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq clang >/dev/null
fi
out="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
cxx="${CXX_FUZZ:-clang++}"

mkdir -p "$out/gen/wire" "$out/obj" "$out/corpus" "$out/crashes"
flatc --cpp --scoped-enums -o "$out/gen/wire" "$root"/wire/*.fbs

common_flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -Wall -Wextra
              -I"$root" -I"$out/gen")
sanitizers=address,undefined
sodium_libs=($(pkg-config --libs libsodium))
toml_cflags=($(pkg-config --cflags tomlplusplus))
toml_libs=($(pkg-config --libs tomlplusplus))

# The library sources each target needs, by group. config.cc is linked with toml++ as conclave
# ships it (Debian's libtomlplusplus, through pkg-config as meson does), not compiled in
# header-only: toml++ 3.3.0 has debug assertions that fire on malformed input and undefined
# behaviour that the sanitizers stop on (upstream bugs, see tests/fuzz/config_fuzz.cc), so this
# target checks conclave's config code on the parser it really runs.
in_repo() { local path; for path in "$@"; do echo "${path#"$root/"}"; done; }
wire_sources=(wire/codec.cc wire/framing.cc gossip/types.cc raft/types.cc
              $(in_repo "$root"/wire/*_codec.cc))
state_machine_sources=($(in_repo "$root"/state_machine/*.cc))
config_sources=(agent/config.cc)
crypto_sources=($(in_repo "$root"/crypto/*.cc))

groups_of() {
  case "$1" in
    config_fuzz) echo config ;;
    state_machine_fuzz) echo wire state_machine ;;
    sealed_datagram_fuzz) echo crypto ;;
    *) echo wire ;;
  esac
}

# Compiles each source of the named groups once (into $out/obj/<mode>/); prints the objects.
compile_groups() {
  local mode="$1"; shift
  local flags=()
  if [[ "$mode" == fuzz ]]; then
    flags=(-fsanitize=fuzzer-no-link,$sanitizers -fno-sanitize-recover=undefined)
  fi
  mkdir -p "$out/obj/$mode"
  local group source object
  for group in "$@"; do
    local sources="${group}_sources[@]"
    local group_flags=()
    [[ "$group" == config ]] && group_flags=("${toml_cflags[@]}")
    for source in "${!sources}"; do
      object="$out/obj/$mode/$(echo "$source" | tr / _).o"
      if [[ ! -e "$object.built" ]]; then
        "$cxx" "${common_flags[@]}" "${flags[@]}" "${group_flags[@]}" -c "$root/$source" \
          -o "$object" >&2
        touch "$object.built"
      fi
      echo "$object"
    done
  done
}

# Objects are rebuilt on every run (no dependency tracking): forget the previous run's.
rm -f "$out"/obj/*/*.built

if [[ "$write_seeds" == 1 ]]; then
  echo "== building the seed writer"
  mapfile -t objects < <(compile_groups plain wire crypto)
  "$cxx" "${common_flags[@]}" "$root/tests/fuzz/seed_corpus.cc" "${objects[@]}" \
    "${sodium_libs[@]}" -o "$out/seed_corpus"
  rm -rf "$root/tests/fuzz/corpus"
  "$out/seed_corpus" "$root/tests/fuzz/corpus"
  echo "== wrote $(find "$root/tests/fuzz/corpus" -type f | wc -l) seeds" \
       "($(cat "$root"/tests/fuzz/corpus/*/* | wc -c) bytes) into tests/fuzz/corpus/"
  exit 0
fi

needed_groups=()
for target in "${targets[@]}"; do
  for group in $(groups_of "$target"); do
    [[ " ${needed_groups[*]} " == *" $group "* ]] || needed_groups+=("$group")
  done
done
echo "== building ${#targets[@]} targets (${needed_groups[*]})"
compile_groups fuzz "${needed_groups[@]}" >/dev/null
for target in "${targets[@]}"; do
  mapfile -t objects < <(compile_groups fuzz $(groups_of "$target"))
  libs=()
  [[ "$target" == sealed_datagram_fuzz ]] && libs=("${sodium_libs[@]}")
  [[ "$target" == config_fuzz ]] && libs=("${toml_libs[@]}")
  "$cxx" "${common_flags[@]}" -fsanitize=fuzzer,$sanitizers -fno-sanitize-recover=undefined \
    "$root/tests/fuzz/$target.cc" "${objects[@]}" "${libs[@]}" -o "$out/$target"
done

status=0
for target in "${targets[@]}"; do
  max_len=8192
  [[ "$target" == gossip_packet_fuzz ]] && max_len=1500
  flags=(-max_len="$max_len" -timeout=10 -rss_limit_mb=2048
         -artifact_prefix="$out/crashes/$target/")
  mkdir -p "$out/corpus/$target" "$out/crashes/$target"
  cp "$root/tests/fuzz/corpus/$target"/* "$out/corpus/$target/"

  regressions=()
  if [[ -d "$root/tests/fuzz/regressions/$target" ]]; then
    mapfile -t regressions < <(find "$root/tests/fuzz/regressions/$target" -type f | sort)
  fi
  if [[ ${#regressions[@]} -gt 0 ]]; then
    echo "== $target: ${#regressions[@]} regression inputs"
    if ! "$out/$target" "${flags[@]}" "${regressions[@]}" >"$out/$target.regressions.log" 2>&1
    then
      echo "!! $target FAILED a regression input, see $out/$target.regressions.log"
      status=1
    fi
  fi

  echo "== $target for ${seconds}s"
  if ! "$out/$target" "${flags[@]}" -max_total_time="$seconds" -print_final_stats=1 \
        "$out/corpus/$target" >"$out/$target.log" 2>&1; then
    echo "!! $target FAILED, see $out/$target.log and $out/crashes/$target/"
    status=1
  fi
  grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)|ERROR|SUMMARY" \
    "$out/$target.log" | tail -4 || true
done
exit "$status"
