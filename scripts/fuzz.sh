#!/usr/bin/env bash
# Builds a libFuzzer target for every wire decoder (plus the frame reader) with ASan and UBSan,
# then runs each for the given number of seconds (default 60). Built directly with clang++
# rather than through meson, so that CI does not pay for it.
#
#   scripts/fuzz.sh [seconds]
#
# Build output and the growing corpora live in build-fuzz/ (FUZZ_BUILD_DIR to change it);
# crashes are written to build-fuzz/crashes/<target>/. Exits non-zero if any target fails.
set -euo pipefail

seconds="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
if ! command -v "${CXX_FUZZ:-clang++}" >/dev/null; then
  echo "fuzz: installing clang (libFuzzer)" >&2
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq clang >/dev/null
fi
out="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
cxx="${CXX_FUZZ:-clang++}"
targets=(gossip_packet_fuzz peer_message_fuzz client_request_fuzz client_response_fuzz
         command_fuzz frame_reader_fuzz)

mkdir -p "$out/gen/wire" "$out/obj" "$out/corpus" "$out/crashes"
flatc --cpp --scoped-enums -o "$out/gen/wire" "$root"/wire/*.fbs

common_flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -Wall -Wextra
              -I"$root" -I"$out/gen")
sanitizers=address,undefined
library_sources=(wire/codec.cc wire/framing.cc gossip/types.cc raft/types.cc)
for codec in "$root"/wire/*_codec.cc; do library_sources+=("wire/$(basename "$codec")"); done

echo "== building (${#library_sources[@]} library sources, ${#targets[@]} targets)"
objects=()
for source in "${library_sources[@]}"; do
  object="$out/obj/$(echo "$source" | tr / _).o"
  "$cxx" "${common_flags[@]}" -fsanitize=fuzzer-no-link,$sanitizers \
    -fno-sanitize-recover=undefined -c "$root/$source" -o "$object"
  objects+=("$object")
done
for target in "${targets[@]}"; do
  "$cxx" "${common_flags[@]}" -fsanitize=fuzzer,$sanitizers -fno-sanitize-recover=undefined \
    "$root/tests/fuzz/$target.cc" "${objects[@]}" -o "$out/$target"
done
# The seed writer is a plain program (no fuzzer runtime).
"$cxx" "${common_flags[@]}" "$root/tests/fuzz/seed_corpus.cc" \
  "$root"/wire/codec.cc "$root"/wire/*_codec.cc "$root"/wire/framing.cc \
  "$root"/gossip/types.cc "$root"/raft/types.cc -o "$out/seed_corpus"
"$out/seed_corpus" "$out/corpus"

status=0
for target in "${targets[@]}"; do
  echo "== $target for ${seconds}s"
  mkdir -p "$out/corpus/$target" "$out/crashes/$target"
  max_len=8192
  [[ "$target" == gossip_packet_fuzz ]] && max_len=1500
  if ! "$out/$target" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$out/crashes/$target/" "$out/corpus/$target" \
        >"$out/$target.log" 2>&1; then
    echo "!! $target FAILED, see $out/$target.log and $out/crashes/$target/"
    status=1
  fi
  grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)|ERROR|SUMMARY" \
    "$out/$target.log" | tail -4 || true
done
exit "$status"
