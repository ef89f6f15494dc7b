// Shared by the libFuzzer targets: what every decoder must guarantee on any input.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/result.h"

namespace conclave::wire::fuzz {

// The decoder either rejects the input with a message, or returns a value that re-encodes to
// bytes decoding to the same value (so nothing accepted is lost or changed on the way through).
//
// One exception: a sender may legally share storage (one string referenced by two fields, one
// table by two messages), which our encoder never does, so the re-encoding can be larger than
// the input and then exceed the buffer limit (seen with gossip packets near 1400 bytes).
template <typename Decode, typename Encode>
void check_decoder(std::string_view bytes, Decode decode, Encode encode) {
  const auto decoded = decode(bytes);
  if (!decoded.ok()) {
    if (decoded.error().message.empty()) {
      std::fprintf(stderr, "decoder rejected input without a message\n");
      std::abort();
    }
    return;
  }
  const std::string encoded = encode(decoded.value());
  const auto again = decode(encoded);
  if (!again.ok() && encoded.size() > bytes.size() &&
      again.error().code == ErrorCode::too_large) {
    return;  // only the buffer size can be too large: the fields were within limits
  }
  if (!again.ok()) {
    std::fprintf(stderr, "re-encoded value does not decode: %s\n",
                 again.error().message.c_str());
    std::abort();
  }
  if (!(again.value() == decoded.value())) {
    std::fprintf(stderr, "re-encoded value decodes to something else\n");
    std::abort();
  }
}

inline std::string_view as_view(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

}  // namespace conclave::wire::fuzz
