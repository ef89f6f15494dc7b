// libFuzzer target: FrameReader on an arbitrary stream split at arbitrary points (built and
// run by scripts/fuzz.sh). The payloads and the outcome must not depend on how the stream was
// split into feeds.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_check.h"
#include "wire/framing.h"

namespace {

struct Outcome {
  std::vector<std::string> payloads;
  bool failed = false;
  size_t buffered = 0;
  bool operator==(const Outcome&) const = default;
};

void drain(conclave::wire::FrameReader& reader, Outcome& outcome) {
  while (!outcome.failed) {
    auto next = reader.next();
    if (!next.ok()) {
      outcome.failed = true;
      return;
    }
    if (!next.value()) return;
    outcome.payloads.push_back(std::move(*next.value()));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using conclave::wire::FrameReader;
  if (size < 2) return 0;
  // First byte: the frame limit; second: the seed of the split points; the rest: the stream.
  const size_t max_frame_bytes = 1 + data[0] * 4;
  unsigned split_state = data[1];
  const std::string_view stream = conclave::wire::fuzz::as_view(data + 2, size - 2);

  Outcome whole;
  {
    FrameReader reader(max_frame_bytes);
    reader.feed(stream);
    drain(reader, whole);
    whole.buffered = reader.buffered_bytes();
  }
  Outcome pieces;
  {
    FrameReader reader(max_frame_bytes);
    for (size_t at = 0; at < stream.size();) {
      split_state = split_state * 1103515245u + 12345u;
      const size_t chunk = std::min<size_t>(stream.size() - at, 1 + (split_state >> 16) % 64);
      reader.feed(stream.substr(at, chunk));
      at += chunk;
      drain(reader, pieces);
    }
    pieces.buffered = reader.buffered_bytes();
  }
  if (!(whole == pieces)) {
    std::fprintf(stderr, "frame reader result depends on how the stream was split\n");
    std::abort();
  }
  return 0;
}
